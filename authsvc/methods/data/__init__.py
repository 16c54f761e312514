"""Package data of the item-7 methods (the common-password deny list)."""
