"""Credentials stay out of what we print: a URL's password and its secret query values become `***`.

Used by the server's logging (every line, whatever logger wrote it) and by the control-plane API
(a proxy's upstream_url is shown masked; the stored one keeps the real secret for forwarding).
"""

from __future__ import annotations

import logging
import re
import sys

MASK = "***"

# Query parameters that carry credentials: Google's `key` and `access_token`, Azure APIM's
# `subscription-key` and `api-key`, the usual `api_key` spellings, presigned AWS URLs, OAuth secrets.
# A bare `token` is left alone: the console mailer's verification and reset links must stay usable.
SECRET_PARAMS = (
    "key",
    "api_key",
    "api-key",
    "apikey",
    "x-api-key",
    "access_token",
    "refresh_token",
    "id_token",
    "subscription-key",
    "client_secret",
    "password",
    "secret",
    "code",
    "sig",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
)
_PARAM_NAMES = "|".join(re.escape(name) for name in SECRET_PARAMS)
# `?key=VALUE` / `&api_key=VALUE`: the value runs to the next separator, quote or blank.
_SECRET_QUERY = re.compile(rf"([?&;](?:{_PARAM_NAMES})=)([^&;#\s\"'<>]*)", re.IGNORECASE)
# `scheme://user:password@`: the password runs to the `@` (no `/`, blank or another `@` in between).
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)([^/\s@]*)@")


def redact(text: str) -> str:
    """`text` with every URL password and secret query value replaced by `***`."""
    if "=" not in text and "@" not in text:  # the common log line: nothing that could match
        return text
    text = _USERINFO.sub(lambda m: m.group(1) + (MASK if m.group(2) else "") + "@", text)
    return _SECRET_QUERY.sub(lambda m: m.group(1) + (MASK if m.group(2) else ""), text)


def mask_url(url: str | None) -> str | None:
    """How an API answer shows a URL: the same URL with its credentials masked."""
    return None if url is None else redact(url)


def restore_masked(new: str | None, stored: str | None) -> str | None:
    """`new` with each masked credential put back from `stored`, where `stored` has one in that place.

    A form that shows the masked URL sends it back unchanged on an edit: that means "keep the secret".
    A masked value with nothing to restore stays masked (the caller refuses it).
    """
    if new is None or stored is None or MASK not in new:
        return new
    old_password = _USERINFO.search(stored)

    def password(match: re.Match[str]) -> str:
        if match.group(2) == MASK and old_password is not None:
            return match.group(1) + old_password.group(2) + "@"
        return match.group(0)

    old_values: dict[str, str] = {}
    for match in _SECRET_QUERY.finditer(stored):
        old_values.setdefault(match.group(1)[1:].lower(), match.group(2))

    def query(match: re.Match[str]) -> str:
        old = old_values.get(match.group(1)[1:].lower())
        return match.group(1) + old if match.group(2) == MASK and old is not None else match.group(0)

    return _SECRET_QUERY.sub(query, _USERINFO.sub(password, new))


def has_masked_credential(url: str | None) -> bool:
    """Whether `url` still carries a `***` where a credential goes (a mask, not a real secret)."""
    if url is None or MASK not in url:
        return False
    if any(match.group(2) == MASK for match in _USERINFO.finditer(url)):
        return True
    return any(match.group(2) == MASK for match in _SECRET_QUERY.finditer(url))


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's final text, its traceback included, whichever logger made it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


# Libraries whose INFO lines print every request's full URL (httpx: "HTTP Request: POST https://...?key=").
QUIET_LOGGERS = ("httpx", "httpcore")


def configure_logging(level: int = logging.INFO) -> None:
    """The server's logging: one stderr handler whose every line passes the redacting filter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
