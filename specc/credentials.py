"""What is a credential and what is sensitive: the one place that decides it.

Takes names, values and messages (plain strings); returns decisions and redacted text. Pure: must not
read files, print, or log what it is given. Used by

- validation, to refuse a credential written into any URI field (`uri_credential`): the reason it
  returns names what was found (userinfo, the query parameter `X-Amz-Signature`...), never its value;
- the plan, diff and apply reports, to mask values (`sensitive_name` for environment variable names,
  `sensitive_value` for the shape of a value: a URL with userinfo, a connection string with a key, a
  presigned query, a private key, a JWT, a well-known token prefix);
- every message that quotes user input (`redact`), so a message that refuses a credential never
  repeats it.

Masking errs on the side of hiding: a name that merely looks like a secret (`CACHE_KEY`) is masked.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

REDACTED = "<redacted>"

# -- names ----------------------------------------------------------------------------------------

# Words that make an environment variable name sensitive wherever they appear as a whole word
# (`DB_PASSWORD`, `dbPassword`, `SIGNING_KEY`, `MYSQL_PWD`, `SENTRY_DSN`, `JWT`).
_SECRET_WORDS = frozenset({
    "PASSWORD", "PASSWORDS", "PASSWD", "PASS", "PWD", "PASSPHRASE", "SECRET", "SECRETS", "TOKEN", "TOKENS",
    "KEY", "KEYS", "APIKEY", "DSN", "JWT", "CREDENTIAL", "CREDENTIALS", "CREDS", "AUTH", "AUTHORIZATION",
    "COOKIE", "SIGNATURE", "SIG", "SAS", "PRIVATE", "PAT", "OTP", "SALT", "PEPPER", "HMAC", "BEARER",
})
# Substrings that make a name sensitive even inside a longer word (`APITOKEN`, `CONNECTIONSTRING`).
_SECRET_PARTS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "APIKEY", "PRIVATEKEY", "ACCESSKEY",
                 "CONNECTIONSTRING", "CONNSTR", "JWT", "DSN", "PASSPHRASE")
# Databases and brokers whose URL (`DATABASE_URL`, `REDIS_URL`) carries its password.
_URL_OWNERS = frozenset({"DATABASE", "DB", "POSTGRES", "POSTGRESQL", "PG", "MYSQL", "MARIADB", "MONGO",
                         "MONGODB", "REDIS", "AMQP", "BROKER", "RABBITMQ", "CELERY", "SQLALCHEMY", "KAFKA",
                         "ELASTICSEARCH", "ES", "CLICKHOUSE", "MSSQL", "SQL"})


def _words(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)  # camelCase -> camel_Case
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.upper()) if w]


def sensitive_name(name: str) -> bool:
    """Does this variable (or key) name say its value is a secret?"""
    words = _words(name)
    if not words:
        return False
    if words == ["PWD"]:
        return False  # the shell's working directory
    if any(w in _SECRET_WORDS for w in words):
        return True
    # A tokenizer is not a token (`TOKENIZERS_PARALLELISM` is a Hugging Face setting).
    joined = "".join(w for w in words if not w.startswith("TOKENIZ"))
    if any(part in joined for part in _SECRET_PARTS):
        return True
    return words[-1] in ("URL", "URI", "URLS", "DSN") and any(w in _URL_OWNERS for w in words[:-1])


# -- values ---------------------------------------------------------------------------------------

# Query (or fragment) parameters that carry a credential: presigned S3 and GCS URLs, Azure SAS,
# OAuth tokens, API keys.
CREDENTIAL_PARAMETERS = frozenset({
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential",
    "x-goog-security-token", "sig", "signature", "access_token", "id_token", "refresh_token", "token",
    "auth", "auth_token", "api_key", "apikey", "api-key", "key", "password", "passwd", "pwd", "secret",
    "client_secret", "sas", "sv_sig", "accountkey", "sharedaccesssignature", "awsaccesskeyid",
    "x-api-key", "private_token", "access_key", "secret_key",
})
# `Name=value` pairs of connection strings (Azure Storage, Service Bus, ADO.NET, ODBC).
_CONNECTION_KEYS = ("AccountKey", "SharedAccessKey", "SharedAccessSignature", "Password", "Pwd",
                    "SharedSecretValue", "ClientSecret")
_CONNECTION_RE = re.compile(r"(?i)(?<![A-Za-z0-9])(" + "|".join(_CONNECTION_KEYS) + r")\s*=")
# Every pattern is linear in the length of its input (values may be 32 KiB): a match can only start
# where a run of its characters starts (a look-behind, not `\b`, which also matches inside a run that
# contains '-'), so no position is scanned again from each of its predecessors.
_USERINFO_RE = re.compile(r"(?i)(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{0,63}://)([^/?#\s@]{1,512})@")
# `user:password@host` without a scheme: an image reference or a host written with credentials.
_BARE_USERINFO_RE = re.compile(r"(^|[\s'\"(=])([^\s/@:'\"(=]{1,256}):([^\s/@'\"]{1,256})@(?=[A-Za-z0-9\[])")
_PARAMETER_RE = re.compile(
    r"(?i)([?&#;]\s*(" + "|".join(re.escape(p) for p in sorted(CREDENTIAL_PARAMETERS, key=len, reverse=True))
    + r")=)([^&#\s'\"]*)")
_TOKEN_SHAPES = (
    re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"),
    re.compile(r"(?<![A-Za-z0-9_.-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # JWT
    re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"),  # AWS access key id
    re.compile(r"(?<![A-Za-z0-9_-])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    re.compile(r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}"),
    re.compile(r"(?<![A-Za-z0-9_-])xox[abprs]-[A-Za-z0-9-]{10,}"),
    re.compile(r"(?<![A-Za-z0-9_-])hf_[A-Za-z0-9]{30,}"),
    re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}"),
    re.compile(r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}"),
)
_AUTH_HEADER_RE = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}")
_PAIR_RE = re.compile(
    r"(?i)((?:token|password|passwd|secret|api[-_]?key|client-key-data|client-certificate-data)[\"']?\s*[:=]\s*"
    r"[\"']?)[^\s\"',}]+")


def sensitive_value(value: str) -> bool:
    """Does this value look like a credential, whatever its name (`postgres://u:pw@db`, `AccountKey=`,
    a presigned URL, a private key, a JWT, a GitHub token)?"""
    if _USERINFO_RE.search(value) or _CONNECTION_RE.search(value) or _PARAMETER_RE.search(value) \
            or _BARE_USERINFO_RE.search(value):
        return True
    return any(shape.search(value) for shape in _TOKEN_SHAPES) or bool(_AUTH_HEADER_RE.search(value))


def uri_credential(uri: str) -> str | None:
    """Why this URI carries a credential (a description that never contains it), or None."""
    try:
        parts = urlsplit(uri)
        netloc = parts.netloc
        parameters = [*parse_qsl(parts.query, keep_blank_values=True),
                      *parse_qsl(parts.fragment, keep_blank_values=True)]
    except ValueError:  # unbalanced brackets: fall back to the shapes
        netloc, parameters = "", []
    if "@" in netloc or _USERINFO_RE.search(uri):
        return "it holds a user name or password (userinfo before '@')"
    for name, _ in parameters:
        if name.lower() in CREDENTIAL_PARAMETERS:
            return f"its query parameter '{_safe_name(name)}' is a credential (a signed or tokenised URL)"
    match = _PARAMETER_RE.search(uri)
    if match:
        return f"its parameter '{match.group(2)}' is a credential (a signed or tokenised URL)"
    match = _CONNECTION_RE.search(uri)
    if match:
        return f"it holds '{match.group(1)}=' (a connection-string credential)"
    if any(shape.search(uri) for shape in _TOKEN_SHAPES):
        return "it holds something shaped like an access token"
    return None


def _safe_name(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", name) else "?"


# -- messages -------------------------------------------------------------------------------------

def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with every credential replaced by `<redacted>`: the given secret values, userinfo in
    URLs, credential query parameters, connection-string keys, token shapes, `Bearer x`, `token: x`."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, REDACTED)
    text = _USERINFO_RE.sub(lambda m: m.group(1) + REDACTED + "@", text)
    text = _BARE_USERINFO_RE.sub(lambda m: m.group(1) + REDACTED + "@", text)
    text = _PARAMETER_RE.sub(lambda m: m.group(1) + REDACTED, text)
    text = re.sub(r"(?i)((?<![A-Za-z0-9])(?:" + "|".join(_CONNECTION_KEYS) + r")\s*=)[^;\s'\"]*",
                  lambda m: m.group(1) + REDACTED, text)
    for shape in _TOKEN_SHAPES:
        text = shape.sub(REDACTED, text)
    text = _AUTH_HEADER_RE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    return _PAIR_RE.sub(lambda m: m.group(1) + REDACTED, text)
