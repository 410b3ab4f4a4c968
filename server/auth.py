"""Who may call, and as which tenant; and the TLS material of both doors.

Tokens
------
Bearer tokens map to tenants. They come from a token file (``--token-file``, BNNS_TOKEN_FILE),
one ``token tenant`` pair a line, ``#`` comments and blank lines allowed::

    # token                              tenant
    3f9c0e...c1                          team-vision
    a71b44...9e                          team-speech

and/or from the environment variable BNNS_TOKENS, ``token1=tenantA,token2=tenantB`` (never a
flag: a command line is visible to every user in ``ps``). A tenant may have several tokens; a
token has one tenant. A caller sends ``authorization: Bearer <token>`` (gRPC metadata or HTTP
header) and acts as that token's tenant; the tenant is never taken from anything else the
caller sends.

Tokens are kept only as SHA-256 digests and looked up by digest, so the time a lookup takes
depends on the digest, not on how many leading characters of a guess are right. No error
message, log line or repr contains a token.

With no tokens configured the server runs open: every caller is the one anonymous tenant "".
That is meant for loopback; :func:`check_startup` refuses to bind any other address open unless
``--allow-open`` (BNNS_ALLOW_OPEN=1) says so.

What authentication covers
--------------------------
Every RPC of bnns.v1.BNNSService, over gRPC (:class:`AuthInterceptor`, before any handler
runs) and REST (``rest.tenant_of``). Open to all: gRPC health (grpc.health.v1.Health) and
reflection, and REST ``/v2/health/*``, ``/metrics``, ``/docs`` and ``/openapi.json`` (probes and
scrapers carry no tokens; none of these reveal a tenant's handles).

TLS
---
``--tls-cert`` and ``--tls-key`` (PEM) turn on TLS for gRPC and HTTPS for REST;
``--tls-client-ca`` also requires every client to present a certificate signed by that CA
(mutual TLS). The files are loaded once at start-up, so a wrong path or a key that does not
match the certificate stops the server with a message instead of failing at the first call.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import ssl
import stat
from typing import Mapping, Optional

import grpc

from bnns.kernels.errors import UnauthenticatedError

log = logging.getLogger("bnns.server")

OPEN_TENANT = ""
LOOPBACK_NAMES = ("localhost",)


class ConfigurationError(ValueError):
    """A start-up setting the server cannot run with; the CLI prints it and exits with code 2."""


# ----------------------------------------------------------------------------------- tokens

def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def parse_token_file(path: str) -> dict:
    """``{token: tenant}`` from a token file (the module docstring has the format).

    Raises ConfigurationError naming the file and line (never the token) for a line that is not
    ``token tenant``; warns in the log when the file is readable by every user."""
    try:
        mode = os.stat(path).st_mode
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"cannot read the token file --token-file {path!r}: {error}") from None
    if mode & stat.S_IROTH:
        log.warning("the token file %s is readable by every user (mode %s); chmod 600 it", path, oct(mode & 0o777))
    tokens: dict = {}
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.split()
        if len(fields) != 2:
            raise ConfigurationError(f"token file {path!r} line {number} has {len(fields)} fields; each line is "
                                     "'token tenant' (whitespace-separated, '#' starts a comment)")
        _add_token(tokens, fields[0], fields[1], f"token file {path!r} line {number}")
    return tokens


def parse_token_list(text: str, source: str = "BNNS_TOKENS") -> dict:
    """``{token: tenant}`` from ``token1=tenantA,token2=tenantB`` (a token may itself contain '=':
    the tenant is what follows the last one)."""
    tokens: dict = {}
    for number, item in enumerate(text.split(","), start=1):
        item = item.strip()
        if not item:
            continue
        token, separator, tenant = item.rpartition("=")
        if not separator or not token.strip() or not tenant.strip():
            raise ConfigurationError(f"{source} entry {number} is not 'token=tenant' (entries are comma-separated)")
        _add_token(tokens, token.strip(), tenant.strip(), f"{source} entry {number}")
    return tokens


def _add_token(tokens: dict, token: str, tenant: str, where: str) -> None:
    if any(c.isspace() for c in token):
        raise ConfigurationError(f"{where}: a token may not contain whitespace")
    if tokens.get(token, tenant) != tenant:
        raise ConfigurationError(f"{where}: this token is already given to tenant {tokens[token]!r}; "
                                 f"a token has one tenant, not also {tenant!r}")
    tokens[token] = tenant


class Authenticator:
    """Bearer token -> tenant. ``Authenticator()`` (no tokens) is open mode: everyone is tenant ""."""

    def __init__(self, tokens: Optional[Mapping[str, str]] = None):
        self._tenant_by_digest = {_digest(token): tenant for token, tenant in (tokens or {}).items()}
        self.tenants = frozenset(self._tenant_by_digest.values())

    @classmethod
    def from_settings(cls, settings) -> "Authenticator":
        """Tokens from settings.token_file and settings.tokens (BNNS_TOKENS), merged.

        A token file or BNNS_TOKENS that is set but holds no token is an error, not open mode:
        a typo must not switch authentication off."""
        tokens: dict = {}
        token_file = getattr(settings, "token_file", "") or ""
        if token_file:
            tokens = parse_token_file(token_file)
            if not tokens:
                raise ConfigurationError(f"the token file --token-file {token_file!r} holds no token; "
                                         "leave --token-file out to run open")
        listed = getattr(settings, "tokens", "") or ""
        if listed.strip():
            from_environment = parse_token_list(listed)
            if not from_environment:
                raise ConfigurationError("BNNS_TOKENS is set but holds no 'token=tenant' entry; unset it to run open")
            for token, tenant in from_environment.items():
                _add_token(tokens, token, tenant, "BNNS_TOKENS (against --token-file)")
        return cls(tokens)

    @property
    def open(self) -> bool:
        return not self._tenant_by_digest

    def tenant_for(self, authorization: Optional[str]) -> str:
        """The tenant of an ``authorization`` header value ("Bearer <token>").

        Raises UnauthenticatedError when tokens are configured and the header is missing, is not
        a bearer token, or names no known token."""
        if self.open:
            return OPEN_TENANT
        if not authorization or not authorization.strip():
            raise UnauthenticatedError("no bearer token: send the header 'authorization: Bearer <token>'", reason="TOKEN_MISSING")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise UnauthenticatedError("the authorization header is not of the form 'Bearer <token>'", reason="TOKEN_MALFORMED")
        tenant = self._tenant_by_digest.get(_digest(token))
        if tenant is None:
            raise UnauthenticatedError("unknown bearer token", reason="TOKEN_UNKNOWN")
        return tenant

    def tenant_of_metadata(self, metadata: Mapping[str, str]) -> str:
        """``tenant_of`` for grpc_service.bnns_handler: the tenant of a call's metadata."""
        return self.tenant_for(metadata.get("authorization"))

    def __repr__(self) -> str:
        return "Authenticator(open)" if self.open else f"Authenticator({len(self.tenants)} tenants)"


# ------------------------------------------------------------------------- the gRPC guard

def _deny(handler: grpc.RpcMethodHandler, error: UnauthenticatedError) -> grpc.RpcMethodHandler:
    """A handler of the same shape as ``handler`` that answers UNAUTHENTICATED without reading
    the request (so an unauthenticated caller never gets its payload decoded)."""
    def abort(_request, context: grpc.ServicerContext):
        from .errors import abort as abort_with
        abort_with(context, error)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort)
    return grpc.unary_unary_rpc_method_handler(abort)


class AuthInterceptor(grpc.ServerInterceptor):
    """Rejects a call to ``service`` with UNAUTHENTICATED before any handler runs unless its
    ``authorization`` metadata names a known token. Other services (health, reflection) pass."""

    def __init__(self, authenticator: Authenticator, service: str = "bnns.v1.BNNSService"):
        self.authenticator = authenticator
        self._prefix = f"/{service}/"

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or self.authenticator.open or not handler_call_details.method.startswith(self._prefix):
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        try:
            self.authenticator.tenant_of_metadata(metadata)
        except UnauthenticatedError as error:
            log.info("unauthenticated call to %s refused: %s", handler_call_details.method, error.message)
            return _deny(handler, error)
        return handler


# -------------------------------------------------------------------------------- start-up

def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address: 127.0.0.0/8, ::1 or the name localhost."""
    host = host.strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:   # any other name: it may resolve to anything
        return False


def check_startup(settings, authenticator: Authenticator) -> None:
    """Log how the server authenticates and refuse what it must not run as.

    Raises ConfigurationError for: open mode on a non-loopback host without allow_open, and TLS
    flags that are incomplete or whose files do not load."""
    _check_tls(settings)
    host = settings.host
    if authenticator.open:
        if not is_loopback(host) and not getattr(settings, "allow_open", False):
            raise ConfigurationError(
                f"no tokens are configured and --host {host} is not a loopback address: anyone who can reach it "
                "could use the server. Configure tokens (--token-file or BNNS_TOKENS), bind 127.0.0.1, or pass "
                "--allow-open (BNNS_ALLOW_OPEN=1) to serve it open anyway")
        log.warning("no tokens configured: running open, every caller is the one anonymous tenant (host %s%s)",
                    host, "" if is_loopback(host) else ", non-loopback, allowed by --allow-open")
    else:
        log.info("bearer tokens required for %s: %d tenants", "bnns.v1.BNNSService", len(authenticator.tenants))
        if not tls_enabled(settings) and not is_loopback(host):
            log.warning("tokens travel in cleartext to %s: add --tls-cert and --tls-key", host)


def tls_enabled(settings) -> bool:
    return bool(getattr(settings, "tls_cert", ""))


def tls_suffix(settings) -> str:
    """What the start-up "listening on" lines end with: "", " (TLS)" or " (mutual TLS)"."""
    if not tls_enabled(settings):
        return ""
    return " (mutual TLS)" if getattr(settings, "tls_client_ca", "") else " (TLS)"


def _check_tls(settings) -> None:
    cert, key, client_ca = (getattr(settings, name, "") or "" for name in ("tls_cert", "tls_key", "tls_client_ca"))
    if bool(cert) != bool(key):
        given, missing = ("--tls-cert", "--tls-key") if cert else ("--tls-key", "--tls-cert")
        raise ConfigurationError(f"{given} needs {missing} too (the server's certificate and its private key)")
    if client_ca and not cert:
        raise ConfigurationError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key: the server "
                                 "must present a certificate before it can ask for one")
    if not cert:
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise ConfigurationError(f"cannot load --tls-cert {cert!r} with --tls-key {key!r}: {error}") from None
    if client_ca:
        try:
            context.load_verify_locations(client_ca)
        except (OSError, ssl.SSLError) as error:
            raise ConfigurationError(f"cannot load --tls-client-ca {client_ca!r}: {error}") from None


def _read(path: str, flag: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise ConfigurationError(f"cannot read {flag} {path!r}: {error}") from None


def grpc_server_credentials(settings) -> Optional[grpc.ServerCredentials]:
    """TLS credentials for the gRPC port (requiring client certificates when tls_client_ca is
    set), or None for plaintext."""
    if not tls_enabled(settings):
        return None
    _check_tls(settings)
    client_ca = getattr(settings, "tls_client_ca", "") or ""
    return grpc.ssl_server_credentials(
        [(_read(settings.tls_key, "--tls-key"), _read(settings.tls_cert, "--tls-cert"))],
        root_certificates=_read(client_ca, "--tls-client-ca") if client_ca else None,
        require_client_auth=bool(client_ca))


def uvicorn_tls_options(settings) -> dict:
    """Keyword arguments for uvicorn.Config: HTTPS, and required client certificates with
    tls_client_ca; {} for plain HTTP."""
    if not tls_enabled(settings):
        return {}
    options = {"ssl_certfile": settings.tls_cert, "ssl_keyfile": settings.tls_key}
    client_ca = getattr(settings, "tls_client_ca", "") or ""
    if client_ca:
        options.update(ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options
