"""RFC 3463 enhanced status codes on every reply aiosmtpd writes by itself.

aiosmtpd 1.4.6 answers many commands with plain replies (``503 Error: need MAIL command``).
We advertise ENHANCEDSTATUSCODES (RFC 2034), so every 2xx/4xx/5xx reply must carry a code;
`enhance()` adds one to any reply that has none. RFC 2034 §3 excludes the greeting and the
HELO/EHLO replies (the protocol class leaves those alone), and 3xx replies have none.
"""

from __future__ import annotations

import re

_HAS_CODE = re.compile(r"^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")
_REPLY = re.compile(r"^([245]\d\d)([ -])(.*)$", re.DOTALL)

# Known aiosmtpd texts (reworded a little where the library's wording misleads).
_KNOWN: dict[str, str] = {
    "500 Command line too long": "500 5.5.2 Command line too long",
    "500 Error: bad syntax": "500 5.5.2 Syntax error",
    "500 Line too long (see RFC5321 4.5.3.1.6)": "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6)",
    "552 Error: Too much mail data": "552 5.3.4 Message size exceeds fixed maximum message size",
    "552 Error: message size exceeds fixed maximum message size": (
        "552 5.3.4 Message size exceeds fixed maximum message size"
    ),
    "554 Command refused due to lack of security": "554 5.7.0 Command refused, TLS failed",
    "530 Must issue a STARTTLS command first": "530 5.7.0 Must issue a STARTTLS command first",
    "220 Ready to start TLS": "220 2.0.0 Ready to start TLS",
    "454 TLS not available": "454 4.7.0 TLS not available",
    "221 Bye": "221 2.0.0 Bye",
    "250 OK": "250 2.0.0 OK",
}

# By reply code (RFC 3463 §3): the subject and detail that fit aiosmtpd's use of the code.
_BY_CODE: dict[str, str] = {
    "214": "2.0.0",
    "220": "2.0.0",
    "221": "2.0.0",
    "250": "2.0.0",
    "252": "2.5.2",
    "421": "4.3.2",
    "451": "4.3.0",
    "452": "4.3.1",
    "454": "4.7.0",
    "500": "5.5.1",  # unrecognised command
    "501": "5.5.4",  # invalid arguments
    "502": "5.5.1",
    "503": "5.5.1",  # bad sequence of commands
    "504": "5.5.4",
    "530": "5.7.0",
    "550": "5.0.0",
    "552": "5.3.4",
    "553": "5.1.3",
    "554": "5.0.0",
    "555": "5.5.4",
}


def enhance(status: str) -> str:
    """`status` with an RFC 3463 enhanced code, added if missing ("Error: " dropped)."""
    if _HAS_CODE.match(status):
        return status
    known = _KNOWN.get(status)
    if known is not None:
        return known
    match = _REPLY.match(status)
    if match is None:
        return status  # 3xx, or not a reply line at all
    code, sep, text = match.groups()
    enhanced = _BY_CODE.get(code, f"{code[0]}.0.0")
    text = text.removeprefix("Error: ")
    return f"{code}{sep}{enhanced} {text}"
