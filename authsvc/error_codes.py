"""The catalogue of error codes: each code declared once with its HTTP status, a title and how to fix it.

A raise site names an entry (``raise Conflict("...", code=error_codes.IDENTIFICATION_CLOSED)``); the answer's
status comes from the entry, so a code cannot be answered with two statuses. ``Code`` is a ``str`` (the code
itself), so comparisons, JSON and logs see the plain code. The HTTP layer adds ``hint`` (the fix) to every
problem document and renders the catalogue into ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any


class Code(str):
    """A stable machine code with its HTTP status, title and the sentence that says how to fix it."""

    status: int
    heading: str  # the problem document's ``title`` (``str.title`` is taken)
    fix: str

    def __new__(cls, code: str, status: int, heading: str, fix: str) -> Code:
        if code in CATALOGUE:
            raise ValueError(f"error code {code!r} is declared twice")
        self = super().__new__(cls, code)
        self.status, self.heading, self.fix = status, heading, fix
        CATALOGUE[code] = self
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Across the process pool a code stays the catalogue's entry.
        return lookup, (str(self),)


CATALOGUE: dict[str, Code] = {}


def lookup(code: str) -> Code:
    """The entry for ``code`` (KeyError if the catalogue lacks it: a code used outside the catalogue is a bug)."""
    return CATALOGUE[code]


# One line per code, a table of code, status, title and fix (kept unwrapped).
# fmt: off

# Every operation: request shape, authentication, limits, the service itself and outside parties.
INTERNAL_ERROR = Code("internal_error", 500, "Internal error", "Nothing to change on your side: retry later, and quote the request_id to the operator if it persists.")
BAD_REQUEST = Code("bad_request", 400, "Bad request", "Correct the request as the detail says.")
VALIDATION_FAILED = Code("validation_failed", 422, "Validation failed", "Correct the fields named in errors[] (loc, code, message) and send again.")
MALFORMED_JSON = Code("malformed_json", 400, "Malformed JSON", "Send a syntactically valid JSON document as the body.")
MALFORMED_MULTIPART = Code("malformed_multipart", 400, "Malformed multipart body", "Send a well-formed multipart/form-data body with the documented parts.")
WRONG_CONTENT_TYPE = Code("wrong_content_type", 415, "Wrong content type", "Send the body with the Content-Type the operation documents (application/json unless stated).")
UNSUPPORTED_MEDIA_TYPE = Code("unsupported_media_type", 415, "Unsupported media type", "Send the body in a media type the operation accepts.")
BODY_TOO_LARGE = Code("body_too_large", 413, "Payload too large", "Send a smaller body; the limit is [server] max_body_bytes.")
UNKNOWN_FIELD = Code("unknown_field", 422, "Unknown field", "Remove the fields or parts the operation does not define.")
MISSING_FIELD = Code("missing_field", 422, "Missing field", "Add the required field named in errors[].loc.")
BAD_IDEMPOTENCY_KEY = Code("bad_idempotency_key", 400, "Bad Idempotency-Key", "Send 1-200 visible ASCII characters as Idempotency-Key, or omit the header.")
UNAUTHORIZED = Code("unauthorized", 401, "Unauthorized", "Send a valid lender API key as 'Authorization: Bearer <key>'.")
NOT_FOUND = Code("not_found", 404, "Not found", "Check the URL against the API; the resource does not exist.")
METHOD_NOT_ALLOWED = Code("method_not_allowed", 405, "Method not allowed", "Use one of the methods the Allow header lists.")
HTTP_ERROR = Code("http_error", 400, "HTTP error", "Correct the request as the detail (the HTTP reason) says; any 4xx aiohttp raises is answered 400.")
CONFLICT = Code("conflict", 409, "Conflict", "Reload the resource and retry with its current state.")
RATE_LIMITED = Code("rate_limited", 429, "Too many requests", "Wait for Retry-After seconds, then retry; spread requests over the rate-limit window.")
DATABASE_UNAVAILABLE = Code("database_unavailable", 503, "Service unavailable", "Retry after Retry-After seconds; the database did not answer.")
DUPLICATE = Code("duplicate", 409, "Duplicate", "A record with these values exists already; read it instead of creating it again.")
KEY_STORE_UNAVAILABLE = Code("key_store_unavailable", 503, "Key store unavailable", "Retry later; the service's key store (HSM token) does not answer — its operator must reconnect it.")
INVALID_CHARACTERS = Code("invalid_characters", 422, "Invalid characters", "Remove NUL bytes and other characters that text fields cannot store.")
RECORD_TAMPERED = Code("record_tampered", 500, "Stored record failed authentication", "Nothing to fix in the request: a stored record was altered outside the service; report the request_id to the operator.")
CONFIG_ERROR = Code("config_error", 500, "Configuration error", "Fix the setting named in the detail (configs/*.toml or AUTHSVC_* variables) and restart.")
UPSTREAM_UNAVAILABLE = Code("upstream_unavailable", 503, "Upstream service unavailable", "Retry later; an outside party did not answer usably.")
UPSTREAM_BAD_RESPONSE = Code("upstream_bad_response", 503, "Upstream gave a bad response", "Retry later; the outside party answered with an error or an unusable body.")
UPSTREAM_TIMEOUT = Code("upstream_timeout", 503, "Upstream timed out", "Retry later; the outside party did not answer in time.")
UPSTREAM_UNREACHABLE = Code("upstream_unreachable", 503, "Upstream unreachable", "Retry later; the outside party could not be reached.")
UPSTREAM_REJECTED = Code("upstream_rejected", 502, "Upstream rejected the request", "Check the data sent for the party named in upstream; if it is right, report the request_id.")
WORKERS_UNAVAILABLE = Code("workers_unavailable", 503, "Verification workers unavailable", "Retry in a few seconds; the verification workers are restarting.")

# Field validation: pydantic's error types (and the models' own) in errors[].code; one shared by every field
# error is also the answer's code (any other type answers validation_failed).

DOCUMENTS_MISSING = Code("documents_missing", 422, "Documents missing", "Attach the scans the detail names (e.g. power_of_attorney for a legal entity's representative).")
DOCUMENT_EXPIRED = Code("document_expired", 422, "Document expired", "Register the client with a valid identity document.")
PAYOUT_DETAILS_REQUIRED = Code("payout_details_required", 422, "Payout details required", "Give bank_account and/or card, or set payout_via_terminal.")
STRING_TYPE = Code("string_type", 422, "Not a string", "Send the field as a JSON string.")
STRING_TOO_SHORT = Code("string_too_short", 422, "String too short", "Send a longer value; the minimum length is in errors[].message.")
STRING_TOO_LONG = Code("string_too_long", 422, "String too long", "Send a shorter value; the maximum length is in errors[].message.")
STRING_PATTERN_MISMATCH = Code("string_pattern_mismatch", 422, "String format mismatch", "Send the value in the format errors[].message shows.")
LITERAL_ERROR = Code("literal_error", 422, "Value not allowed", "Send one of the values errors[].message lists.")
ENUM = Code("enum", 422, "Value not in enumeration", "Send one of the values errors[].message lists.")
TOO_SHORT = Code("too_short", 422, "Too few items", "Send at least the number of items errors[].message says.")
TOO_LONG = Code("too_long", 422, "Too many items", "Send at most the number of items errors[].message says.")
INT_TYPE = Code("int_type", 422, "Not an integer", "Send the field as a JSON integer.")
INT_PARSING = Code("int_parsing", 422, "Not an integer", "Send the field as a JSON integer.")
INT_FROM_FLOAT = Code("int_from_float", 422, "Fractional number", "Send a whole number.")
FLOAT_TYPE = Code("float_type", 422, "Not a number", "Send the field as a JSON number.")
BOOL_TYPE = Code("bool_type", 422, "Not a boolean", "Send true or false.")
LIST_TYPE = Code("list_type", 422, "Not a list", "Send the field as a JSON array.")
DICT_TYPE = Code("dict_type", 422, "Not an object", "Send the field as a JSON object.")
GREATER_THAN = Code("greater_than", 422, "Number too small", "Send a number above the bound in errors[].message.")
GREATER_THAN_EQUAL = Code("greater_than_equal", 422, "Number too small", "Send a number at or above the bound in errors[].message.")
LESS_THAN = Code("less_than", 422, "Number too large", "Send a number below the bound in errors[].message.")
LESS_THAN_EQUAL = Code("less_than_equal", 422, "Number too large", "Send a number at or below the bound in errors[].message.")
DATE_TYPE = Code("date_type", 422, "Not a date", "Send an ISO 8601 date (YYYY-MM-DD).")
DATE_PARSING = Code("date_parsing", 422, "Unreadable date", "Send an ISO 8601 date (YYYY-MM-DD).")
DATETIME_TYPE = Code("datetime_type", 422, "Not a date-time", "Send an ISO 8601 date-time with a time zone.")
DATETIME_PARSING = Code("datetime_parsing", 422, "Unreadable date-time", "Send an ISO 8601 date-time with a time zone.")
VALUE_ERROR = Code("value_error", 422, "Invalid value", "Correct the value as errors[].message says.")

# The pydantic types above, which any JSON body can answer.
FIELD_CODES = (
    STRING_TYPE,
    STRING_TOO_SHORT,
    STRING_TOO_LONG,
    STRING_PATTERN_MISMATCH,
    LITERAL_ERROR,
    ENUM,
    TOO_SHORT,
    TOO_LONG,
    INT_TYPE,
    INT_PARSING,
    INT_FROM_FLOAT,
    FLOAT_TYPE,
    BOOL_TYPE,
    LIST_TYPE,
    DICT_TYPE,
    GREATER_THAN,
    GREATER_THAN_EQUAL,
    LESS_THAN,
    LESS_THAN_EQUAL,
    DATE_TYPE,
    DATE_PARSING,
    DATETIME_TYPE,
    DATETIME_PARSING,
    VALUE_ERROR,
)

# Clients (the registry of borrowers) and their identifiers, files and photos.
CLIENT_NOT_FOUND = Code("client_not_found", 404, "Client not found", "Check the client id; create the client first if needed.")
DUPLICATE_CLIENT = Code("duplicate_client", 409, "Duplicate client", "Use the existing client with this IIN/BIN (or client_ref) instead of creating one.")
CONCURRENT_UPDATE = Code("concurrent_update", 409, "Concurrent update", "Reload the client and repeat the change.")
IDEMPOTENCY_IN_PROGRESS = Code("idempotency_in_progress", 409, "Request still in progress", "Wait for the first request with this Idempotency-Key to finish, then retry.")
IDEMPOTENCY_KEY_REUSED = Code("idempotency_key_reused", 409, "Idempotency-Key reused", "Use a new Idempotency-Key for a different request body.")
IIN_IMMUTABLE = Code("iin_immutable", 422, "IIN/BIN cannot change", "Create a new client for a different IIN or BIN (R-6.7).")
IDENTIFICATION_REQUIRED = Code("identification_required", 422, "Identification required", "Complete the identification of this client the operation needs and pass its identification_id: change_contact to change a phone or account (R-6.6), loan_contract to sign a contract under a profile that demands it (R-NB.1).")
TOO_MANY_DOCUMENTS = Code("too_many_documents", 422, "Too many documents", "Send fewer documents; the limit is [clients] scans_max_count.")
PHOTO_REJECTED = Code("photo_rejected", 422, "Photo rejected", "Send a frontal photo that meets R-6.1 (one face, sharp, well lit, neutral background).")
INVALID_FORMAT = Code("invalid_format", 422, "Invalid format", "Send the identifier in its documented format (IIN/BIN: 12 digits; IBAN: KZ + 18 characters; card: 13-19 digits).")
BAD_CHECKSUM = Code("bad_checksum", 422, "Check digit mismatch", "Re-enter the number; its check digit does not match.")
BIRTH_DATE_IN_FUTURE = Code("birth_date_in_future", 422, "Birth date in the future", "Check the IIN: its first six digits and the century digit give a birth date after today.")
INVALID_PHONE = Code("invalid_phone", 422, "Invalid phone number", "Send a Kazakh phone number in E.164 form (+7...).")
NOT_MOBILE = Code("not_mobile", 422, "Not a mobile number", "Send a Kazakh mobile number, not a landline.")
NOTHING_TO_CHANGE = Code("nothing_to_change", 422, "Nothing to change", "Give at least one of phone, bank_account or card.")
BAD_BASE64 = Code("bad_base64", 422, "Invalid base64", "Encode the field in standard base64 (RFC 4648 section 4).")
FILE_TOO_LARGE = Code("file_too_large", 422, "File too large", "Send a smaller file; the limit is in the detail.")
EMPTY_FILE = Code("empty_file", 422, "Empty file", "Send a file with content.")
UNSUPPORTED_FILE_TYPE = Code("unsupported_file_type", 422, "Unsupported file type", "Send one of the content types named in the detail.")
CONTENT_TYPE_MISMATCH = Code("content_type_mismatch", 422, "Content type mismatch", "Declare the content type the file really has.")
CORRUPT_IMAGE = Code("corrupt_image", 422, "Corrupt image", "Send an image file that opens (JPEG or PNG).")
IMAGE_TOO_LARGE = Code("image_too_large", 422, "Image too large", "Send an image with fewer pixels.")
IMAGE_TOO_SMALL = Code("image_too_small", 422, "Image too small", "Send an image whose sides reach the minimum in the detail.")

# Identifications and their steps.
IDENTIFICATION_NOT_FOUND = Code("identification_not_found", 404, "Identification not found", "Check the identification id; start one with POST /v1/identifications.")
IDENTIFICATION_CLOSED = Code("identification_closed", 409, "Identification closed", "Open a new identification; this one is completed, failed or expired.")
PROFILE_NOT_FOUND = Code("profile_not_found", 404, "Profile not found", "Name one of the profiles GET /v1/profiles lists.")
CLIENT_NOT_IDENTIFIED = Code("client_not_identified", 409, "Registration not completed", "Complete a registration identification of this client first (R-6.4).")
COOLING_OFF = Code("cooling_off", 409, "Cooling-off period", "Open the payout identification from the time in not_before: a payout follows the contract by a day (R-NB.7).")
DEVICE_SIGNALS_REQUIRED = Code("device_signals_required", 422, "Device signals required", "Send the app's signals in the Device-Signals header (JSON) as the profile asks (R-NB.5).")
DEVICE_REFUSED = Code("device_refused", 422, "Device refused", "The app reported a rooted or jailbroken device, remote control, an emulator or a bad app signature; the client must use a safe device (R-NB.5).")
BAD_DEVICE_SIGNALS = Code("bad_device_signals", 422, "Bad device signals", "Send Device-Signals as one JSON object with the documented fields.")
WRONG_OPERATION = Code("wrong_operation", 422, "Wrong operation for this step", "Use the step the identification's operation allows (see its profile).")
BAD_CLIENT_IP = Code("bad_client_ip", 422, "Bad client IP", "Send client_ip as an IPv4 or IPv6 address.")
REPLAY = Code("replay", 409, "Replayed evidence", "Sign a fresh challenge; each signature or challenge is accepted once (R-12.3).")
EVIDENCE_REUSED = Code("evidence_reused", 409, "Evidence reused", "Capture a new image; an image is accepted for one identification only.")
NO_LIVE_CAPTURE = Code("no_live_capture", 422, "No live capture", "Pass the liveness step first, or send image_base64.")
CHALLENGE_NOT_FOUND = Code("challenge_not_found", 404, "Liveness script not found", "Request a new liveness script for this identification.")
CHALLENGE_USED = Code("challenge_used", 409, "Liveness script used", "Request a new liveness script; each is used once.")
CHALLENGE_EXPIRED = Code("challenge_expired", 409, "Liveness script expired", "Request a new liveness script and capture within its lifetime (script_ttl_s).")
# Hosted-page links and the page's own endpoints.
RETURN_URL_NOT_ALLOWED = Code("return_url_not_allowed", 422, "Return URL not allowed", "Use a return_url that starts with one of the prefixes configured for your lender in [hosted] return_urls.")
LINK_NOT_FOUND = Code("link_not_found", 404, "Link not found", "Ask the lender for a new link; this one is not known.")
LINK_EXPIRED = Code("link_expired", 409, "Link expired", "Ask the lender for a new link; this one was not opened in time.")
LINK_USED = Code("link_used", 409, "Link already used", "Ask the lender for a new link; each link opens in one browser, once.")
HOSTED_SESSION_REQUIRED = Code("hosted_session_required", 401, "Page session required", "Open the page through its link; the session cookie is missing or has expired.")
HOSTED_HEADER_MISSING = Code("hosted_header_missing", 400, "Page header missing", "Send the request from the hosted page (it adds the X-Hosted-Page header).")
STEP_NOT_OFFERED = Code("step_not_offered", 409, "Step not offered", "Take one of the steps the page offers for this identification.")
DOCUMENT_REJECTED = Code("document_rejected", 422, "Identity document rejected", "Send a sharp photo or scan of the identity document's page with its portrait.")
DOCUMENT_NO_PORTRAIT = Code("document_no_portrait", 422, "No portrait on the document", "Send the front of the ID card or the passport's photo page, whole and upright.")
DOCUMENT_MULTIPLE_PORTRAITS = Code("document_multiple_portraits", 422, "Several portraits", "Send one document alone in the image.")
DOCUMENT_PORTRAIT_TOO_SMALL = Code("document_portrait_too_small", 422, "Document portrait too small", "Photograph the document closer or scan it at a higher resolution.")
DOCUMENT_BLURRED = Code("document_blurred", 422, "Document blurred", "Hold the camera still and in focus, or scan the document.")
DOCUMENT_PDF_UNREADABLE = Code("document_pdf_unreadable", 422, "Document PDF unreadable", "Send the document's scan as an intact PDF, or as a JPEG or PNG.")
DOCUMENT_PDF_ENCRYPTED = Code("document_pdf_encrypted", 422, "Document PDF encrypted", "Save the scan without a password or encryption, or send it as a JPEG or PNG.")
DOCUMENT_PDF_MULTIPLE_PAGES = Code("document_pdf_multiple_pages", 422, "Document PDF has several pages", "Send a one-page PDF with the document's front (the page with the portrait).")
DOCUMENT_PDF_NO_IMAGE = Code("document_pdf_no_image", 422, "No image in the document PDF", "Send a scan or photo of the document; a typed or drawn page has no portrait.")
DOCUMENT_PDF_TOO_COMPLEX = Code("document_pdf_too_complex", 422, "Document PDF too complex", "Send a plain scan: one page holding the document's photo, or a JPEG or PNG.")
IDENTITY_DOCUMENT_REQUIRED = Code("identity_document_required", 422, "Identity document required", "Give the identity document's image (id_document_image) with the capture or at registration: the profile matches the live face to it (R-7.3b(i)).")
CAPTURE_REUSED = Code("capture_reused", 409, "Capture reused", "Record a new capture; a capture is accepted once (R-12.3).")
BAD_TIMESTAMPS = Code("bad_timestamps", 422, "Bad frame timestamps", "Send timestamps_ms as a JSON list with one time per frame.")
VALIDATION_TIME_NAIVE = Code("validation_time_naive", 422, "Validation time without zone", "Give validation_time with a time zone offset.")
VALIDATION_TIME_NOT_ALLOWED = Code("validation_time_not_allowed", 422, "Validation time not allowed", "Omit validation_time; it is accepted only in test mode ([pki] test_mode_time_allowed).")

# The liveness engine (codes of liveness/errors.py, passed through unchanged).
LIVENESS_ERROR = Code("liveness_error", 422, "Liveness check failed", "Record a new capture following the script.")
MODELS_UNAVAILABLE = Code("models_unavailable", 503, "Face models unavailable", "Retry later; the operator must install the face models.")
IMAGE_REJECTED = Code("image_rejected", 422, "Image rejected", "Send a readable photo of one face.")
IMAGE_UNDECODABLE = Code("image_undecodable", 422, "Image undecodable", "Send a JPEG or PNG image that decodes.")
FACE_NOT_FOUND = Code("face_not_found", 422, "No face found", "Send a photo in which one face is clearly visible.")
SCRIPT_REJECTED = Code("script_rejected", 422, "Liveness script rejected", "Request a new liveness script.")
SCRIPT_INVALID = Code("script_invalid", 422, "Liveness script invalid", "Request a new liveness script.")
SCRIPT_EXPIRED = Code("script_expired", 422, "Liveness script expired", "Request a new liveness script and record within its lifetime.")
CAPTURE_REJECTED = Code("capture_rejected", 422, "Capture rejected", "Record a new capture following the script.")
CAPTURE_UNDECODABLE = Code("capture_undecodable", 422, "Capture undecodable", "Send the video or frames in a supported, undamaged format.")
CAPTURE_TOO_LARGE = Code("capture_too_large", 413, "Capture too large", "Send a shorter or smaller capture; the limit is in the detail.")
CAPTURE_OUT_OF_ORDER = Code("capture_out_of_order", 422, "Capture out of order", "Send the frames in recording order with increasing timestamps.")

# Second factors: one-time codes, passwords, hardware tokens, delivery receipts.
OTP_REJECTED = Code("otp_rejected", 422, "Code rejected", "Ask the client to enter the current code; a code works once and expires.")
OTP_MALFORMED = Code("otp_malformed", 422, "Malformed code", "Send the code as the digits the client received.")
OTP_RESEND_TOO_SOON = Code("otp_resend_too_soon", 429, "Code sent moments ago", "Wait for Retry-After seconds before requesting another code.")
OTP_SEND_LIMITED = Code("otp_send_limited", 429, "Too many codes requested", "Wait for Retry-After seconds; too many codes were sent to this client.")
DOCUMENT_CHECKS_LIMITED = Code("document_checks_limited", 429, "Too many document checks", "Wait for Retry-After seconds before checking the identity document again.")
OTP_VERIFY_LIMITED = Code("otp_verify_limited", 429, "Too many verification attempts", "Wait for Retry-After seconds before verifying again.")
OTP_UNAVAILABLE = Code("otp_unavailable", 503, "One-time codes unavailable", "Use another method; one-time codes are not configured on this service.")
OTP_BAD_ALGORITHM = Code("otp_bad_algorithm", 422, "Unsupported OTP algorithm", "Use SHA1, SHA256 or SHA512.")
OTP_BAD_COUNTER = Code("otp_bad_counter", 422, "HOTP counter out of range", "Send a counter between 0 and 2^64-1.")
OTP_BAD_DIGITS = Code("otp_bad_digits", 422, "Unsupported OTP length", "Use 6, 7 or 8 digits.")
OTP_BAD_LABEL = Code("otp_bad_label", 422, "Bad OTP label", "Give a non-empty account and issuer without ':'.")
OTP_BAD_PERIOD = Code("otp_bad_period", 422, "Bad TOTP period", "Give a positive TOTP period in seconds.")
OTP_BAD_SECRET = Code("otp_bad_secret", 422, "Bad OTP secret", "Send the seed as hexadecimal (seed_hex) or base32 (seed_base32).")
OTP_BAD_WINDOW = Code("otp_bad_window", 422, "Bad HOTP look-ahead", "Give a look-ahead window of zero or more.")
OTP_KEY_TOO_SHORT = Code("otp_key_too_short", 422, "OTP secret too short", "Use a secret of at least 16 bytes (RFC 4226).")
BAD_DIGITS = Code("bad_digits", 422, "Bad digit count", "Collect 1 to 12 digits.")
PASSWORD_REJECTED = Code("password_rejected", 422, "Password rejected", "Ask the client for the right password; after repeated failures wait Retry-After.")
PASSWORD_TOO_SHORT = Code("password_too_short", 422, "Password too short", "Choose a longer password (the minimum is in the detail).")
PASSWORD_TOO_LONG = Code("password_too_long", 422, "Password too long", "Choose a shorter password (the maximum is in the detail).")
PASSWORD_REPETITIVE = Code("password_repetitive", 422, "Password repetitive", "Choose a password that is not one repeated character.")
PASSWORD_COMMON = Code("password_common", 422, "Password too common", "Choose a password that is not among common or breached passwords.")
PASSWORD_CONTAINS_PERSONAL_DATA = Code("password_contains_personal_data", 422, "Password contains personal data", "Choose a password without the client's name, IIN or phone number.")
PASSWORD_HASH_INVALID = Code("password_hash_invalid", 422, "Stored password hash invalid", "Set the client's password again; the stored hash is not a valid argon2 hash.")
TOKEN_NOT_FOUND = Code("token_not_found", 404, "Token not found", "Check the token serial; import the token first.")
TOKEN_EXISTS = Code("token_exists", 409, "Token exists", "Use the token already imported with this serial.")
TOKEN_ASSIGNED = Code("token_assigned", 409, "Token assigned", "Unassign the token from its client first, or use another token.")
TOTP_ALREADY_ENROLLED = Code("totp_already_enrolled", 409, "Authenticator already enrolled", "Revoke the client's active authenticator before enrolling a new one.")
TOKEN_RESYNC_FAILED = Code("token_resync_failed", 422, "Token resync failed", "Send two consecutive codes read from the token.")
TOKEN_SEED_MISSING = Code("token_seed_missing", 422, "Token seed missing", "Give exactly one of seed_hex, seed_base32.")
OTP_ALREADY_USED = Code("otp_already_used", 409, "Code already used", "Nothing to retry: this code was accepted once already (a duplicate submission); ask for the next code if another step needs one.")
FACTOR_SUSPENDED = Code("factor_suspended", 409, "Factor suspended", "Offer the client another method; the factor is suspended after repeated wrong answers until you reinstate it (POST /v1/clients/{client_id}/factors/{factor}/reinstate) or a stronger identification completes.")
FACTOR_UNKNOWN = Code("factor_unknown", 404, "No such factor", "Name one of sms, totp, hotp, password.")
TOKEN_WRONG_STATE = Code("token_wrong_state", 409, "Token in the wrong state", "Read the token's status first: the change is not possible from it (a revoked or lost token stays so).")
IDENTIFICATION_NOT_USABLE = Code("identification_not_usable", 409, "Identification not usable", "Complete a new identification of the client for this operation and send its id; each is used once, soon after completion.")
PSKC_INVALID = Code("pskc_invalid", 422, "Not a usable PSKC document", "Send a PSKC (RFC 6030) KeyContainer with HOTP or TOTP keys, and the pre-shared key if the secrets are encrypted.")
PSKC_KEY_REJECTED = Code("pskc_key_rejected", 422, "PSKC key not accepted", "Check the pre-shared key (hex) the vendor gave: the document's MAC does not match, or it names an unsupported algorithm.")
RECEIPTS_NOT_CONFIGURED = Code("receipts_not_configured", 401, "Receipts not accepted", "Configure a receipt signing key ([sms] receipt_key) and sign receipts.")
BAD_RECEIPT = Code("bad_receipt", 400, "Bad delivery receipt", "Send a delivery receipt in the SMS gateway's format.")
BAD_RECEIPT_SIGNATURE = Code("bad_receipt_signature", 401, "Bad receipt signature", "Sign the receipt with the configured receipt key.")

# Contracts, the credit bureau, payout accounts, the CDAO (biometrics).
CONTRACT_NOT_FOUND = Code("contract_not_found", 404, "Contract not found", "Check the contract id.")
# lender callbacks (authsvc.webhooks)
WEBHOOK_NOT_CONFIGURED = Code("webhook_not_configured", 404, "No webhook endpoint", "Configure the endpoint first with PUT /v1/webhook.")
WEBHOOK_URL_REFUSED = Code("webhook_url_refused", 422, "Webhook URL refused", "Give an https:// URL on a public host name, without user name, password or fragment.")
DELIVERY_NOT_FOUND = Code("delivery_not_found", 404, "Delivery not found", "Check the delivery id against GET /v1/webhook/deliveries.")
CONTRACT_ALTERED = Code("contract_altered", 409, "Contract altered", "Nothing to fix in the request: the stored contract fails its integrity check; report it to the operator.")
DOCUMENT_REQUIRED = Code("document_required", 422, "Document required", "Give the document or its SHA-256.")
DOCUMENT_MISMATCH = Code("document_mismatch", 422, "Document mismatch", "Send the SHA-256 of exactly this document.")
SIGNATURE_REJECTED = Code("signature_rejected", 422, "Signature rejected", "Sign the contract again with a valid certificate of the client; reasons[] says what failed.")
ONE_PAYMENT_INSTRUMENT = Code("one_payment_instrument", 422, "One payment instrument", "Give only one of iban, card_number, card_token.")
PAYOUT_INSTRUMENT_MISSING = Code("payout_instrument_missing", 422, "Payout instrument missing", "Give an IBAN, card number or card token; the client has none on file.")
PAYOUT_CARD_NOT_KEPT = Code("payout_card_not_kept", 422, "Card on file not usable", "The client's card was registered before card numbers were kept, so the bank cannot be asked about it: give card_number (or the bank's card_token), or change the client's card with a change_contact identification.")
PAYOUT_ACCOUNT_NOT_OWNED = Code("payout_account_not_owned", 422, "Account not owned by the client", "Give an account or card that belongs to the client.")
PAYOUT_ACCOUNT_INACTIVE = Code("payout_account_inactive", 422, "Account inactive", "Give an active account or card.")
BAD_APPLICATION_ID = Code("bad_application_id", 422, "Bad application id", "Use 1-64 of A-Z a-z 0-9 _ - as application id.")
INVALID_IIN = Code("invalid_iin", 422, "Invalid IIN", "Send the IIN as 12 digits.")
BUREAU_APPLICATION_CONFLICT = Code("bureau_application_conflict", 409, "Bureau application conflict", "Use a new application id; the bureau holds this one with other data.")
VOLUNTARY_REFUSAL = Code("voluntary_refusal", 409, "Voluntary refusal of loans", "Do not lend: the client registered a voluntary refusal at the credit bureau.")
IMAGE_MISSING = Code("image_missing", 422, "Image missing", "Send a non-empty image.")
CDAO_PERSON_NOT_FOUND = Code("cdao_person_not_found", 422, "Person unknown to the CDAO", "Check the IIN; the CDAO has no person with it.")
CDAO_NO_PHOTO_ON_FILE = Code("cdao_no_photo_on_file", 422, "No photo on file at the CDAO", "Use another identification method; the CDAO holds no photo of the person.")
CDAO_POOR_QUALITY = Code("cdao_poor_quality", 422, "Photo unusable by the CDAO", "Capture a new photo (reason says why the CDAO could not compare it).")
CDAO_PHOTO_TOO_LARGE = Code("cdao_photo_too_large", 413, "Photo too large for the CDAO", "Send a smaller photo; the CDAO refused its size.")

# EDS: signatures, certificates, keystores, revocation (OCSP, CRL), time stamps.
TRUST_NOT_READY = Code("trust_not_ready", 503, "EDS verification not ready", "Retry later; the trust store has not loaded yet or EDS is not configured.")
BAD_ENCODING = Code("bad_encoding", 422, "Bad encoding", "Send DER, PEM or base64 of the structure.")
BAD_CMS = Code("bad_cms", 422, "Bad CMS", "Send a CMS SignedData (PKCS#7) made by NCALayer or a compatible signer.")
BAD_CERTIFICATE = Code("bad_certificate", 422, "Bad certificate", "Send an X.509 certificate in DER, PEM or base64.")
BAD_XML = Code("bad_xml", 422, "Bad XML", "Send well-formed XML with one enveloped XMLDSig signature.")
UNSUPPORTED_ALGORITHM = Code("unsupported_algorithm", 422, "Unsupported algorithm", "Sign with RSA or GOST R 34.10-2015 and SHA-256 or GOST 34.11-2015.")
GOST_UNAVAILABLE = Code("gost_unavailable", 422, "GOST unavailable", "Use an RSA certificate; GOST verification is not available on this service.")
BAD_KEYSTORE = Code("bad_keystore", 422, "Bad keystore", "Send an intact PKCS#12 keystore (.p12) as NCA issues it.")
BAD_KEYSTORE_PASSWORD = Code("bad_keystore_password", 422, "Wrong keystore password", "Give the keystore's password.")
UNSUPPORTED_KEYSTORE = Code("unsupported_keystore", 422, "Unsupported keystore", "Send a PKCS#12 keystore with the encryption NCA uses.")
UNVERIFIABLE_INPUT = Code("unverifiable_input", 422, "Unverifiable input", "Send the signature as produced by the signer; this input could not be verified.")
REVOCATION_UNAVAILABLE = Code("revocation_unavailable", 503, "Revocation status unavailable", "Retry later; neither OCSP nor a fresh CRL answered for the certificate.")
OCSP_INVALID = Code("ocsp_invalid", 503, "OCSP answer unusable", "Retry later; the OCSP responder's answer could not be used.")
OCSP_UNAVAILABLE = Code("ocsp_unavailable", 503, "OCSP unavailable", "Retry later; the OCSP responder did not answer.")
OCSP_MALFORMED = Code("ocsp_malformed", 503, "OCSP answer malformed", "Retry later; the OCSP responder sent a malformed answer.")
OCSP_MISMATCH = Code("ocsp_mismatch", 503, "OCSP answer mismatch", "Retry later; the OCSP answer is not about the requested certificate.")
OCSP_NONCE_MISMATCH = Code("ocsp_nonce_mismatch", 503, "OCSP nonce mismatch", "Retry later; the OCSP answer echoes another nonce.")
OCSP_NONCE_MISSING = Code("ocsp_nonce_missing", 503, "OCSP nonce missing", "Retry later, or allow answers without a nonce ([pki] ocsp_require_nonce).")
OCSP_NOT_YET_VALID = Code("ocsp_not_yet_valid", 503, "OCSP answer not yet valid", "Check the service's clock; the OCSP answer is dated in the future.")
OCSP_RESPONDER_UNAUTHORIZED = Code("ocsp_responder_unauthorized", 503, "OCSP responder unauthorised", "Retry later; the OCSP responder is not authorised by the CA.")
OCSP_SIGNATURE_INVALID = Code("ocsp_signature_invalid", 503, "OCSP signature invalid", "Retry later; the OCSP answer's signature does not verify.")
OCSP_STALE = Code("ocsp_stale", 503, "OCSP answer stale", "Retry later; the OCSP answer is past its nextUpdate.")
OCSP_UNSUPPORTED = Code("ocsp_unsupported", 503, "OCSP answer unsupported", "Retry later; the OCSP answer is not a BasicOCSPResponse.")
OCSP_MALFORMED_REQUEST = Code("ocsp_malformed_request", 503, "OCSP request refused as malformed", "Report the request_id; the OCSP responder refused the service's request.")
OCSP_INTERNAL_ERROR = Code("ocsp_internal_error", 503, "OCSP responder error", "Retry later; the OCSP responder had an internal error.")
OCSP_TRY_LATER = Code("ocsp_try_later", 503, "OCSP responder busy", "Retry later; the OCSP responder asked to try later.")
OCSP_SIGN_REQUIRED = Code("ocsp_sign_required", 503, "OCSP request must be signed", "Configure a signing key for OCSP requests; the responder requires it.")
OCSP_UNAUTHORIZED = Code("ocsp_unauthorized", 503, "OCSP request unauthorised", "Check the service's access to the OCSP responder.")
CRL_INVALID = Code("crl_invalid", 503, "CRL unusable", "Retry later; the downloaded CRL cannot be used.")
CRL_DOWNLOAD_FAILED = Code("crl_download_failed", 503, "CRL download failed", "Retry later; the CRL could not be downloaded.")
CRL_EXPIRED = Code("crl_expired", 503, "CRL expired", "Retry later; the CRL is past its nextUpdate and no newer one is available.")
CRL_ISSUER_MISMATCH = Code("crl_issuer_mismatch", 503, "CRL issuer mismatch", "Check the CRL distribution point; the CRL belongs to another CA.")
CRL_MALFORMED = Code("crl_malformed", 503, "CRL malformed", "Retry later; the CRL is malformed.")
CRL_NOT_YET_VALID = Code("crl_not_yet_valid", 503, "CRL not yet valid", "Check the service's clock; the CRL is dated in the future.")
CRL_NUMBER_REGRESSED = Code("crl_number_regressed", 503, "CRL number regressed", "Retry later; the CRL is older than one already seen.")
CRL_SIGNATURE_INVALID = Code("crl_signature_invalid", 503, "CRL signature invalid", "Retry later; the CRL's signature does not verify.")
CRL_UNSUPPORTED = Code("crl_unsupported", 503, "CRL unsupported", "Use OCSP; indirect or partitioned CRLs are not supported.")
CA_CERTIFICATE_UNAVAILABLE = Code("ca_certificate_unavailable", 503, "CA certificate unavailable", "Retry later; the issuing CA certificate could not be downloaded.")
TSP_UNAVAILABLE = Code("tsp_unavailable", 503, "Time-stamp authority unavailable", "Retry later; the TSA did not answer.")
TSP_INVALID = Code("tsp_invalid", 503, "TSA answer invalid", "Retry later; the TSA's answer does not fit the request.")
TSP_MALFORMED = Code("tsp_malformed", 503, "TSA answer malformed", "Retry later; the TSA sent a malformed answer.")
TSP_REJECTED = Code("tsp_rejected", 503, "TSA rejected the request", "Retry later; the TSA refused to stamp.")
TIMESTAMP_INVALID = Code("timestamp_invalid", 422, "Time stamp invalid", "Send a signature with a genuine time-stamp token from a trusted TSA over the signature.")
TIMESTAMP_IMPRINT_MISMATCH = Code("timestamp_imprint_mismatch", 422, "Time stamp over other data", "Time-stamp the signature itself, not other data.")
TIMESTAMP_MALFORMED = Code("timestamp_malformed", 422, "Time stamp malformed", "Send a well-formed RFC 3161 time-stamp token.")
TIMESTAMP_NONCE_MISMATCH = Code("timestamp_nonce_mismatch", 422, "Time stamp nonce mismatch", "Request a fresh time stamp with the nonce sent.")
TIMESTAMP_POLICY_REJECTED = Code("timestamp_policy_rejected", 422, "Time stamp policy rejected", "Use a TSA policy the service accepts ([pki] tsa_policies).")
TIMESTAMP_SIGNATURE_INVALID = Code("timestamp_signature_invalid", 422, "Time stamp signature invalid", "Use a time stamp whose signature verifies.")
TIMESTAMP_TSA_REVOKED = Code("timestamp_tsa_revoked", 422, "TSA certificate revoked", "Use a time stamp from a TSA whose certificate is valid.")
TIMESTAMP_TSA_UNAUTHORIZED = Code("timestamp_tsa_unauthorized", 422, "TSA not authorised", "Use a TSA certificate with the critical timeStamping extended key usage.")
TIMESTAMP_TSA_UNKNOWN = Code("timestamp_tsa_unknown", 422, "TSA certificate unknown", "Include the TSA certificate in the token.")
TIMESTAMP_UNSUPPORTED = Code("timestamp_unsupported", 422, "Time stamp unsupported", "Use a time stamp signed with a supported algorithm.")
TIMESTAMP_UNTRUSTED = Code("timestamp_untrusted", 422, "TSA untrusted", "Use a time stamp from a TSA that chains to a trusted NCA root.")

# Attestations: the compact JWS the service signs over a completed identification (authsvc/attestation).
ATTESTATION_MALFORMED = Code("attestation_malformed", 422, "Attestation malformed", "Send the attestation exactly as the service issued it: a compact JWS of three base64url parts, unchanged.")
ATTESTATION_ALGORITHM_REFUSED = Code("attestation_algorithm_refused", 422, "Attestation algorithm refused", "Only attestations signed by this service with EdDSA (Ed25519) verify; none, HMAC and other algorithms are refused.")
ATTESTATION_UNKNOWN_KEY = Code("attestation_unknown_key", 422, "Attestation key unknown", "Send an attestation this service signed; its kid must be one of the keys at /.well-known/jwks.json.")
ATTESTATION_BAD_SIGNATURE = Code("attestation_bad_signature", 422, "Attestation signature invalid", "The attestation was altered after it was signed: use the original the service issued.")
# Grey and black lists (R-NB.8) and incidents.
LIST_ENTRY_NOT_FOUND = Code("list_entry_not_found", 404, "List entry not found", "Check the entry id; look an identifier up with POST /v1/lists/lookup.")
LIST_ENTRY_EXISTS = Code("list_entry_exists", 409, "Already on the list", "The value is on that list already: read it with POST /v1/lists/lookup, or delete the entry before adding it again.")
LIST_ENTRY_NOT_MANAGED = Code("list_entry_not_managed", 409, "Entry not managed by the lender", "Only the lender's own entries can be removed; an incident's entries go when it is closed, the AFC's with its feed.")
LIST_BAD_IDENTIFIER = Code("list_bad_identifier", 422, "Bad identifier", "Send kind phone, iin, device_id or iban with a value of that kind (a device id is 1-200 visible ASCII characters).")
LIST_BAD_EXPIRY = Code("list_bad_expiry", 422, "Bad expiry", "Send an expires_at with a time zone, in the future and within 100 years, or none for an entry that stays until removed.")
INCIDENT_NOT_FOUND = Code("incident_not_found", 404, "Incident not found", "Check the incident id; another lender's incidents are not visible.")
INCIDENT_CLOSED = Code("incident_closed", 409, "Incident closed", "A closed incident takes no more actions; record a new incident if the case reopens.")
INCIDENT_ACTION_DONE = Code("incident_action_done", 409, "Action recorded already", "Read the incident: this action was recorded before, at the time it shows.")
INCIDENT_INCOMPLETE = Code("incident_incomplete", 409, "Incident not complete", "Record client_informed, regulator_informed and measures_taken before closing the incident.")
INCIDENT_CONTRACT_MISMATCH = Code("incident_contract_mismatch", 422, "Contract of another client", "Send the id of a contract of this client, or none.")
INCIDENT_BAD_TIME = Code("incident_bad_time", 422, "Bad time", "Send detected_at (or the action's at) with a time zone, no later than now and within the last ten years (an action not before the incident was detected).")
AFC_INCIDENT_CONFLICT = Code("afc_incident_conflict", 409, "AFC holds other data", "The Anti-fraud centre holds this incident id with other data; report the request_id to the operator.")
# fmt: on

# Codes that travel together, named once for the operations that answer all of them.
UPSTREAM_FAILURES = (
    UPSTREAM_REJECTED,
    UPSTREAM_BAD_RESPONSE,
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNREACHABLE,
    UPSTREAM_UNAVAILABLE,
)
OTP_CODE_FAULTS = (
    OTP_BAD_ALGORITHM,
    OTP_BAD_COUNTER,
    OTP_BAD_DIGITS,
    OTP_BAD_PERIOD,
    OTP_BAD_WINDOW,
    OTP_KEY_TOO_SHORT,
    OTP_MALFORMED,
    OTP_REJECTED,
    OTP_VERIFY_LIMITED,
)

# Every step answers these besides its own: the identification's state and the app's device signals.
STEP_GATES = (
    IDENTIFICATION_NOT_FOUND,
    IDENTIFICATION_CLOSED,
    DEVICE_SIGNALS_REQUIRED,
    BAD_DEVICE_SIGNALS,
    DEVICE_REFUSED,
)
