"""The hosted onboarding page: what a flow link is (an opaque token, single use, bound to one identification,
with an optional return URL from the lender's allow-list), which steps the page offers, how the flashes the
page painted compare with the script's, and the page's static assets (``static/``: the page and the web SDK,
plain ES modules — no bundler, no CDN — versioned and gzipped once at start by ``assets``)."""

from authsvc.hosted.links import (
    PAGE_METHODS,
    check_return_url,
    flash_timing,
    new_secret,
    offered_steps,
)

__all__ = ["PAGE_METHODS", "check_return_url", "flash_timing", "new_secret", "offered_steps"]
