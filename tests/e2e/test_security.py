"""Tokens, tenants and TLS (server/auth.py): the token table on its own, then live servers over
gRPC and REST: who gets in, whose handles each tenant sees, what stays open, open mode's refusal
of public addresses, and TLS / mutual TLS with certificates generated here."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
import subprocess
import sys

import grpc
import httpx
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from bnns.kernels.errors import UnauthenticatedError
from bnns.server import auth, rest, settings as settings_mod
from bnns.v1 import service_pb2 as pb
from bnns.v1 import service_pb2_grpc, types_pb2

from ..conftest import ServerProcess, with_in

TOKEN_A = "tok-alpha-7c1e9f0b2d4a6c8e"          # tenant-a, from the token file
TOKEN_B = "tok-bravo-3a5c7e9f1b2d4f6a=="        # tenant-b, from BNNS_TOKENS (a token may end in '=')
WRONG_TOKEN = "tok-wrong-0000000000000000"
NEVER_ID = "f-00000000deadbeef"
SERVICE = pb.DESCRIPTOR.services_by_name["BNNSService"]
CALL_TIMEOUT = 10
# bnns.md 6.3: weights 0, 0.02, ... as a 9 x 2 (I x O) row-major matrix, x = 1.0 .. 1.8,
# bias (0.3, 0.7) -> (1.428, 4.096); float32 sums of 9 products.
HAND_CASE_OUT, HAND_CASE_RTOL = [1.428, 4.096], 1e-6


def metadata(token):
    return (("authorization", f"Bearer {token}"),) if token else ()


def bearer(token):
    return {"authorization": f"Bearer {token}"} if token else {}


def fc_request() -> pb.CreateFilterRequest:
    """A 3 -> 2 fully connected filter (small, any kind would do)."""
    vector = types_pb2.DATA_LAYOUT_VECTOR
    return pb.CreateFilterRequest(fully_connected=types_pb2.FullyConnectedParameters(
        i_desc=types_pb2.NDArrayDescriptor(layout=vector, size=[3], data_type=types_pb2.DATA_TYPE_FLOAT32),
        w_desc=types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_ROW_MAJOR_MATRIX, size=[3, 2],
                                           data_type=types_pb2.DATA_TYPE_FLOAT32,
                                           data=types_pb2.Buffer(values=[1, 0, -1, 0.5, 0.5, 0.5])),  # type: ignore[arg-type]  # a list fills a ListValue (the stubs do not say so)
        o_desc=types_pb2.NDArrayDescriptor(layout=vector, size=[2], data_type=types_pb2.DATA_TYPE_FLOAT32)))


FC_BODY = {"fully_connected": {
    "i_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [3], "data_type": "DATA_TYPE_FLOAT32"},
    "w_desc": {"layout": "DATA_LAYOUT_ROW_MAJOR_MATRIX", "size": [3, 2], "data_type": "DATA_TYPE_FLOAT32",
               "data": {"values": [[1, 0, -1], [0.5, 0.5, 0.5]]}},
    "o_desc": {"layout": "DATA_LAYOUT_VECTOR", "size": [2], "data_type": "DATA_TYPE_FLOAT32"}}}


def sdk_hand_case(sdk) -> np.ndarray:
    """bnns.md 6.3's fully connected example through the SDK's current connection."""
    w = (0.02 * np.arange(18, dtype=np.float32)).reshape(2, 9)
    p = sdk.BNNSLayerParametersFullyConnected(
        i_desc=sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayoutVector, size=(9,)),
        w_desc=sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayoutRowMajorMatrix, size=(9, 2), data=w),
        o_desc=sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayoutVector, size=(2,)),
        bias=sdk.BNNSNDArrayDescriptor(layout=sdk.BNNSDataLayoutVector, size=(2,),
                                       data=np.array([0.3, 0.7], np.float32)))
    f = sdk.BNNSFilterCreateLayerFullyConnected(p, None)
    assert f is not None, sdk.last_error()
    out = np.zeros(2, np.float32)
    assert sdk.BNNSFilterApply(f, np.arange(10, 19, dtype=np.float32) / 10, out) == 0, sdk.last_error()
    sdk.BNNSFilterDestroy(f)
    return out


@pytest.fixture
def sdk():
    import bnns.client as sdk_module
    yield sdk_module
    sdk_module.connect("local")


# ---------------------------------------------------------------------------- certificates

def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(subject: str, key, issuer_name, issuer_key, *, ca: bool, usage=None, sans=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory, name: str, key, cert) -> tuple:
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict:
    """A CA; a server certificate for 127.0.0.1 and localhost; a client certificate; and a
    client certificate from a second CA the server does not trust. Paths to PEM files."""
    directory = tmp_path_factory.mktemp("pki")
    paths = {}
    for ca_name, leaves in (("ca", ("server", "client")), ("other_ca", ("stranger",))):
        ca_key = _key()
        ca_cert = _certificate(f"bnns test {ca_name}", ca_key, None, ca_key, ca=True)
        paths[ca_name], _ = _write(directory, ca_name, ca_key, ca_cert)
        for leaf in leaves:
            key = _key()
            if leaf == "server":
                cert = _certificate("bnns test server", key, ca_cert.subject, ca_key, ca=False,
                                    usage=ExtendedKeyUsageOID.SERVER_AUTH,
                                    sans=(x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")))
            else:
                cert = _certificate(f"bnns test {leaf}", key, ca_cert.subject, ca_key, ca=False,
                                    usage=ExtendedKeyUsageOID.CLIENT_AUTH)
            paths[leaf + "_cert"], paths[leaf + "_key"] = _write(directory, leaf, key, cert)
    return paths


# ------------------------------------------------------------------------ the token table

def test_token_file_reads_pairs_and_skips_comments_and_blank_lines(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("# token tenant\n\n  tok-1   team-a  \ntok-2 team-b # trailing comment\ntok-3 team-a\n")
    path.chmod(0o600)
    assert auth.parse_token_file(str(path)) == {"tok-1": "team-a", "tok-2": "team-b", "tok-3": "team-a"}


@pytest.mark.parametrize("line, phrase", [
    ("tok-secret-1", "line 2 has 1 fields"),
    ("tok-secret-1 team-a extra", "line 2 has 3 fields"),
], ids=["token-only", "three-fields"])
def test_malformed_token_file_line_names_the_line_not_the_token(tmp_path, line, phrase):
    path = tmp_path / "tokens"
    path.write_text(f"tok-fine team-a\n{line}\n")
    with pytest.raises(auth.ConfigurationError) as error:
        auth.parse_token_file(str(path))
    assert phrase in str(error.value) and "tok-secret-1" not in str(error.value)


def test_token_list_from_environment_takes_the_tenant_after_the_last_equals():
    assert auth.parse_token_list(" tok-1=team-a , tok-2===team-b,") == {"tok-1": "team-a", "tok-2==": "team-b"}


@pytest.mark.parametrize("text", ["tok-secret-1", "tok-secret-1=", "=team-a"], ids=["no-equals", "no-tenant",
                                                                                    "no-token"])
def test_malformed_token_list_entry_is_an_error_without_the_token(text):
    with pytest.raises(auth.ConfigurationError, match="entry 1") as error:
        auth.parse_token_list(text)
    assert "tok-secret-1" not in str(error.value)


def test_one_token_for_two_tenants_is_an_error(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("tok-1 team-a\n")
    path.chmod(0o600)
    settings = settings_mod.Settings(token_file=str(path), tokens="tok-1=team-b")
    with pytest.raises(auth.ConfigurationError, match="already given to tenant 'team-a'"):
        auth.Authenticator.from_settings(settings)


@pytest.mark.parametrize("file_text, tokens, phrase", [
    ("# nothing but a comment\n", "", "holds no token"),
    (None, " , ", "holds no 'token=tenant'"),
], ids=["empty-token-file", "empty-BNNS_TOKENS"])
def test_configured_but_empty_token_source_is_an_error_not_open_mode(tmp_path, file_text, tokens, phrase):
    token_file = ""
    if file_text is not None:
        token_file = str(tmp_path / "tokens")
        (tmp_path / "tokens").write_text(file_text)
    with pytest.raises(auth.ConfigurationError, match=phrase):
        auth.Authenticator.from_settings(settings_mod.Settings(token_file=token_file, tokens=tokens))


def test_world_readable_token_file_is_warned_about(tmp_path, caplog):
    path = tmp_path / "tokens"
    path.write_text("tok-1 team-a\n")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="bnns.server"):
        auth.parse_token_file(str(path))
    assert "readable by every user" in caplog.text and "tok-1" not in caplog.text


@pytest.mark.parametrize("header, outcome", [
    (f"Bearer {TOKEN_A}", "tenant-a"),
    (f"bearer   {TOKEN_A}  ", "tenant-a"),
    (f"Bearer {TOKEN_B}", "tenant-b"),
    (None, "no bearer token"),
    ("", "no bearer token"),
    (f"Basic {TOKEN_A}", "not of the form"),
    (TOKEN_A, "not of the form"),
    ("Bearer ", "not of the form"),
    (f"Bearer {WRONG_TOKEN}", "unknown bearer token"),
    (f"Bearer {TOKEN_A}x", "unknown bearer token"),
], ids=["bearer", "scheme-case-and-spaces", "second-tenant", "missing", "empty", "basic-scheme", "no-scheme",
        "bearer-blank", "wrong", "extended"])
def test_tenant_for_an_authorization_header(header, outcome):
    authenticator = auth.Authenticator({TOKEN_A: "tenant-a", TOKEN_B: "tenant-b"})
    if outcome.startswith("tenant-"):
        assert authenticator.tenant_for(header) == outcome
        return
    with pytest.raises(UnauthenticatedError, match=outcome):
        authenticator.tenant_for(header)


def test_unauthenticated_messages_never_echo_the_token():
    authenticator = auth.Authenticator({TOKEN_A: "tenant-a"})
    for header in (WRONG_TOKEN, f"Bearer {WRONG_TOKEN}", f"Token {WRONG_TOKEN}"):
        with pytest.raises(UnauthenticatedError) as error:
            authenticator.tenant_for(header)
        assert WRONG_TOKEN not in error.value.message
    assert TOKEN_A not in repr(authenticator)


def test_no_tokens_is_open_mode_with_one_anonymous_tenant():
    authenticator = auth.Authenticator.from_settings(settings_mod.Settings())
    assert authenticator.open
    assert {authenticator.tenant_for(h) for h in (None, "", f"Bearer {WRONG_TOKEN}", "junk")} == {""}


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.com", False),
    ("128.0.0.1", False),
])
def test_is_loopback(host, loopback):
    assert auth.is_loopback(host) is loopback


def test_settings_read_auth_flags_and_environment_and_hide_tokens():
    parsed = settings_mod.parse(["--token-file", "/t", "--tls-cert", "/c", "--tls-key", "/k"],
                                environ={"BNNS_TOKENS": f"{TOKEN_A}=a", "BNNS_ALLOW_OPEN": "1",
                                         "BNNS_TLS_CLIENT_CA": "/ca"})
    assert (parsed.token_file, parsed.tokens, parsed.allow_open) == ("/t", f"{TOKEN_A}=a", True)
    assert (parsed.tls_cert, parsed.tls_key, parsed.tls_client_ca) == ("/c", "/k", "/ca")
    assert TOKEN_A not in repr(parsed)
    assert settings_mod.parse([], environ={}).allow_open is False


@pytest.mark.parametrize("names, phrase", [
    (("server_cert", None, None), "--tls-cert needs --tls-key"),
    ((None, "server_key", None), "--tls-key needs --tls-cert"),
    ((None, None, "ca"), "--tls-client-ca (mutual TLS) needs"),
    (("server_cert", "client_key", None), "cannot load --tls-cert"),
    (("server_cert", "server_key", "server_key"), "cannot load --tls-client-ca"),
], ids=["cert-without-key", "key-without-cert", "client-ca-alone", "key-of-another-cert", "client-ca-not-a-ca"])
def test_incomplete_or_broken_tls_settings_are_configuration_errors(pki, names, phrase):
    cert, key, client_ca = (pki[n] if n else "" for n in names)
    settings = settings_mod.Settings(tls_cert=cert, tls_key=key, tls_client_ca=client_ca)
    with pytest.raises(auth.ConfigurationError) as error:
        auth.check_startup(settings, auth.Authenticator())
    assert phrase in str(error.value)


# ------------------------------------------------------------------ a server with tokens

@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    path = tmp_path_factory.mktemp("tokens") / "tokens"
    path.write_text(f"# bnns-rpc tokens\n{TOKEN_A} tenant-a\n")
    path.chmod(0o600)
    server = ServerProcess("--token-file", str(path), http=True, env={"BNNS_TOKENS": f"{TOKEN_B}=tenant-b"})
    yield server
    assert server.stop() == 0, "".join(server.output)


@pytest.fixture(scope="module")
def channel(token_server):
    with grpc.insecure_channel(token_server.grpc_target) as channel:
        yield channel


@pytest.fixture(scope="module")
def stub(channel):
    return service_pb2_grpc.BNNSServiceStub(channel)


def _raw_call(channel, method, payload: bytes, token=None):
    """Call a BNNSService method with raw bytes, in its own cardinality."""
    path, identity = f"/{SERVICE.full_name}/{method.name}", (lambda b: b)
    kind = {(False, False): channel.unary_unary, (False, True): channel.unary_stream,
            (True, False): channel.stream_unary, (True, True): channel.stream_stream}[
        (method.client_streaming, method.server_streaming)]
    call = kind(path, request_serializer=identity, response_deserializer=identity)
    request = iter([payload]) if method.client_streaming else payload
    result = call(request, timeout=CALL_TIMEOUT, metadata=metadata(token))
    if method.server_streaming:
        list(result)


UNAUTHENTICATED_CASES = [(None, "no bearer token"), (WRONG_TOKEN, "unknown bearer token")]


@pytest.mark.parametrize("token, phrase", UNAUTHENTICATED_CASES, ids=["no-token", "wrong-token"])
def test_every_grpc_rpc_without_a_valid_token_is_unauthenticated(channel, token, phrase):
    refused = {}
    for method in SERVICE.methods:
        with pytest.raises(grpc.RpcError) as error:
            _raw_call(channel, method, fc_request().SerializeToString(), token)
        refused[method.name] = (error.value.code(), phrase in (error.value.details() or ""),
                                WRONG_TOKEN in (error.value.details() or ""))
    assert refused == {name: (grpc.StatusCode.UNAUTHENTICATED, True, False) for name in refused}


def test_unauthenticated_grpc_call_is_refused_before_its_payload_is_decoded(channel):
    with pytest.raises(grpc.RpcError) as error:
        _raw_call(channel, SERVICE.methods_by_name["CreateFilter"], b"\xff\xff\xff not a protobuf")
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("token, phrase", UNAUTHENTICATED_CASES, ids=["no-token", "wrong-token"])
def test_every_rest_route_without_a_valid_token_is_401_with_a_bearer_challenge(token_server, token, phrase):
    refused = {}
    with httpx.Client(base_url=token_server.http_url, timeout=CALL_TIMEOUT, headers=bearer(token)) as client:
        for route in rest.rest_routes(None):  # type: ignore[arg-type]  # the routes only, no core behind them
            response = client.request(route.http_method, route.path.replace("{filter_id}", NEVER_ID),
                                      json=FC_BODY if route.has_body else None)
            error = response.json()["error"]
            refused[route.rpc] = (response.status_code, response.headers.get("www-authenticate"), error["status"],
                                  phrase in error["message"], WRONG_TOKEN in response.text)
    assert refused == {rpc: (401, "Bearer", "UNAUTHENTICATED", True, False) for rpc in refused}


def test_sdk_with_the_right_token_works_over_grpc(token_server, sdk):
    sdk.connect(token_server.grpc_target, token=TOKEN_A)
    np.testing.assert_allclose(sdk_hand_case(sdk), HAND_CASE_OUT, rtol=HAND_CASE_RTOL)


def test_rest_with_the_right_token_works(token_server):
    with httpx.Client(base_url=token_server.http_url, timeout=CALL_TIMEOUT, headers=bearer(TOKEN_B)) as client:
        created = client.post("/v1/filters", json=FC_BODY)
        assert created.status_code == 200, created.text
        filter_id = created.json()["filter_id"]
        applied = client.post(f"/v1/filters/{filter_id}:filterApplyBatch",
                              json={"batch_size": 1, "in": {"values": [1, 2, 3]}})
        assert applied.status_code == 200, applied.text
        np.testing.assert_allclose(applied.json()["out"]["values"], [-2.0, 3.0])
        assert client.delete(f"/v1/filters/{filter_id}").status_code == 200


def _without_id(message: str, filter_id: str) -> str:
    return message.replace(filter_id, "<id>")


def test_another_tenants_handle_is_not_found_over_grpc_exactly_like_a_missing_one(stub):
    mine = stub.CreateFilter(fc_request(), timeout=CALL_TIMEOUT, metadata=metadata(TOKEN_A)).filter_id
    x = types_pb2.Buffer(values=[1, 2, 3])  # type: ignore[arg-type]  # a list fills a ListValue (the stubs do not say so)
    calls = {
        "DescribeFilter": lambda fid: stub.DescribeFilter(pb.DescribeFilterRequest(filter_id=fid),
                                                          timeout=CALL_TIMEOUT, metadata=metadata(TOKEN_B)),
        "FilterApplyBatch": lambda fid: stub.FilterApplyBatch(
            pb.FilterApplyBatchRequest(filter_id=fid, batch_size=1, **with_in(x)),
            timeout=CALL_TIMEOUT, metadata=metadata(TOKEN_B)),
        "DestroyFilter": lambda fid: stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=fid),
                                                        timeout=CALL_TIMEOUT, metadata=metadata(TOKEN_B)),
    }
    for rpc, call in calls.items():
        answers = []
        for filter_id in (mine, NEVER_ID):
            with pytest.raises(grpc.RpcError) as error:
                call(filter_id)
            answers.append((error.value.code(), _without_id(error.value.details() or "", filter_id)))
        assert answers[0] == answers[1] and answers[0][0] == grpc.StatusCode.NOT_FOUND, rpc
    listed_b = stub.ListFilters(pb.ListFiltersRequest(), timeout=CALL_TIMEOUT, metadata=metadata(TOKEN_B)).filters
    assert mine not in [f.filter_id for f in listed_b]
    # B's destroy attempt left A's handle alone.
    assert stub.DescribeFilter(pb.DescribeFilterRequest(filter_id=mine), timeout=CALL_TIMEOUT,
                               metadata=metadata(TOKEN_A)).info.filter_id == mine
    stub.DestroyFilter(pb.DestroyFilterRequest(filter_id=mine), timeout=CALL_TIMEOUT, metadata=metadata(TOKEN_A))


def test_another_tenants_handle_is_not_found_over_rest_exactly_like_a_missing_one(token_server):
    a = httpx.Client(base_url=token_server.http_url, timeout=CALL_TIMEOUT, headers=bearer(TOKEN_A))
    b = httpx.Client(base_url=token_server.http_url, timeout=CALL_TIMEOUT, headers=bearer(TOKEN_B))
    with a, b:
        mine = a.post("/v1/filters", json=FC_BODY).json()["filter_id"]
        calls = {
            "describe": lambda fid: b.get(f"/v1/filters/{fid}"),
            "apply": lambda fid: b.post(f"/v1/filters/{fid}:filterApplyBatch",
                                        json={"batch_size": 1, "in": {"values": [1, 2, 3]}}),
            "destroy": lambda fid: b.delete(f"/v1/filters/{fid}"),
        }
        for name, call in calls.items():
            answers = [(r.status_code, _without_id(r.text, fid)) for fid in (mine, NEVER_ID) for r in [call(fid)]]
            assert answers[0] == answers[1] and answers[0][0] == 404, (name, answers)
        assert mine not in [f["filter_id"] for f in b.get("/v1/filters").json().get("filters", [])]
        assert a.get(f"/v1/filters/{mine}").status_code == 200          # B's destroy left it alone
        assert mine in [f["filter_id"] for f in a.get("/v1/filters").json()["filters"]]
        assert a.delete(f"/v1/filters/{mine}").status_code == 200


def test_a_handle_is_shared_by_grpc_and_rest_for_the_same_tenant(token_server, stub):
    mine = stub.CreateFilter(fc_request(), timeout=CALL_TIMEOUT, metadata=metadata(TOKEN_A)).filter_id
    assert httpx.get(f"{token_server.http_url}/v1/filters/{mine}", headers=bearer(TOKEN_A),
                     timeout=CALL_TIMEOUT).status_code == 200
    assert httpx.delete(f"{token_server.http_url}/v1/filters/{mine}", headers=bearer(TOKEN_A),
                        timeout=CALL_TIMEOUT).status_code == 200


def test_grpc_health_and_reflection_need_no_token(channel):
    health = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[attr-defined]  # the stubs' HealthStub has no methods
        health_pb2.HealthCheckRequest(service=SERVICE.full_name), timeout=CALL_TIMEOUT)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    answers = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(  # type: ignore[operator]  # the stubs leave it untyped
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=CALL_TIMEOUT)
    services = [s.name for answer in answers for s in answer.list_services_response.service]
    assert SERVICE.full_name in services


@pytest.mark.parametrize("path", ["/v2/health/live", "/v2/health/ready", "/metrics", "/openapi.json", "/docs"])
def test_rest_health_metrics_and_docs_need_no_token(token_server, path):
    assert httpx.get(token_server.http_url + path, timeout=CALL_TIMEOUT).status_code == 200


def test_token_server_does_not_log_open_mode_nor_any_token(token_server):
    output = "".join(token_server.output)
    assert "running open" not in output
    assert TOKEN_A not in output and TOKEN_B not in output and WRONG_TOKEN not in output


# ------------------------------------------------------------------------------ open mode

def test_open_mode_refuses_a_public_host_without_allow_open():
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BNNS_")}
    result = subprocess.run([sys.executable, "-m", "bnns.server.cli", "--host", "0.0.0.0", "--grpc-port", "0",
                             "--no-http"], capture_output=True, text=True, timeout=60, env=environ)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--allow-open" in result.stderr and "0.0.0.0 is not a loopback address" in result.stderr
    assert "listening" not in result.stdout


@pytest.mark.parametrize("args, env", [(("--allow-open",), {}), ((), {"BNNS_ALLOW_OPEN": "1"})],
                         ids=["flag", "environment"])
def test_open_mode_serves_a_public_host_when_allowed_and_says_so(args, env):
    server = ServerProcess("--host", "0.0.0.0", *args, env=env)
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            listed = service_pb2_grpc.BNNSServiceStub(channel).ListFilters(pb.ListFiltersRequest(),
                                                                            timeout=CALL_TIMEOUT)
        assert list(listed.filters) == []
        assert "running open" in "".join(server.output)
    finally:
        assert server.stop() == 0, "".join(server.output)


# ------------------------------------------------------------------------------------ TLS

@pytest.fixture(scope="module")
def tls_server(pki):
    server = ServerProcess("--tls-cert", pki["server_cert"], "--tls-key", pki["server_key"], http=True)
    yield server
    assert server.stop() == 0, "".join(server.output)


@pytest.fixture(scope="module")
def mtls_server(pki):
    server = ServerProcess("--tls-cert", pki["server_cert"], "--tls-key", pki["server_key"],
                           "--tls-client-ca", pki["ca"], http=True)
    yield server
    assert server.stop() == 0, "".join(server.output)


def _client_tls(pki, cert: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"])
    if cert:
        context.load_cert_chain(pki[cert + "_cert"], pki[cert + "_key"])
    return context


def _list_over(channel_credentials, target: str):
    with grpc.secure_channel(target, channel_credentials) as channel:
        return service_pb2_grpc.BNNSServiceStub(channel).ListFilters(pb.ListFiltersRequest(), timeout=CALL_TIMEOUT)


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def test_tls_start_up_lines_say_tls(tls_server, mtls_server):
    assert any(line.rstrip().endswith(f"gRPC listening on 127.0.0.1:{tls_server.ports['gRPC']} (TLS)")
               for line in tls_server.output)
    assert any(line.rstrip().endswith(f"REST listening on 127.0.0.1:{mtls_server.ports['REST']} (mutual TLS)")
               for line in mtls_server.output)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_sdk_over_tls_works(tls_server, sdk, pki, host):
    sdk.connect(f"{host}:{tls_server.ports['gRPC']}", root_certificates=pki["ca"])
    np.testing.assert_allclose(sdk_hand_case(sdk), HAND_CASE_OUT, rtol=HAND_CASE_RTOL)


def test_plaintext_grpc_client_cannot_call_a_tls_server(tls_server):
    with grpc.insecure_channel(tls_server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as error:
            service_pb2_grpc.BNNSServiceStub(channel).ListFilters(pb.ListFiltersRequest(), timeout=CALL_TIMEOUT)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_grpc_client_not_trusting_the_servers_ca_cannot_call(tls_server, pki):
    with pytest.raises(grpc.RpcError) as error:
        _list_over(grpc.ssl_channel_credentials(_read(pki["other_ca"])), tls_server.grpc_target)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_https_rest_verified_against_the_ca(tls_server, pki):
    url = f"https://127.0.0.1:{tls_server.ports['REST']}"
    with httpx.Client(base_url=url, verify=_client_tls(pki), timeout=CALL_TIMEOUT) as client:
        created = client.post("/v1/filters", json=FC_BODY)
        assert created.status_code == 200, created.text
        assert client.delete(f"/v1/filters/{created.json()['filter_id']}").status_code == 200
    with pytest.raises(httpx.TransportError):   # plain HTTP to the HTTPS port
        httpx.get(f"http://127.0.0.1:{tls_server.ports['REST']}/v2/health/live", timeout=CALL_TIMEOUT)


def test_mtls_grpc_client_without_a_certificate_is_refused(mtls_server, pki):
    with pytest.raises(grpc.RpcError) as error:
        _list_over(grpc.ssl_channel_credentials(_read(pki["ca"])), mtls_server.grpc_target)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_grpc_client_certificate_from_another_ca_is_refused(mtls_server, pki):
    credentials = grpc.ssl_channel_credentials(_read(pki["ca"]), _read(pki["stranger_key"]),
                                               _read(pki["stranger_cert"]))
    with pytest.raises(grpc.RpcError) as error:
        _list_over(credentials, mtls_server.grpc_target)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_sdk_with_a_client_certificate_works(mtls_server, sdk, pki):
    sdk.connect(mtls_server.grpc_target, root_certificates=_read(pki["ca"]), private_key=pki["client_key"],
                certificate_chain=pki["client_cert"])
    np.testing.assert_allclose(sdk_hand_case(sdk), HAND_CASE_OUT, rtol=HAND_CASE_RTOL)


def test_mtls_rest_needs_a_client_certificate(mtls_server, pki):
    url = f"https://127.0.0.1:{mtls_server.ports['REST']}/v1/filters"
    assert httpx.get(url, verify=_client_tls(pki, "client"), timeout=CALL_TIMEOUT).status_code == 200
    for context in (_client_tls(pki), _client_tls(pki, "stranger")):
        with pytest.raises(httpx.TransportError):
            httpx.get(url, verify=context, timeout=CALL_TIMEOUT)


def test_connect_rejects_credentials_together_with_certificate_arguments(sdk, pki):
    with pytest.raises(ValueError, match="not both"):
        sdk.connect("127.0.0.1:1", credentials=grpc.ssl_channel_credentials(), root_certificates=pki["ca"])


def test_metrics_label_a_foreign_handle_as_an_unknown_one(token_server, stub):
    """A probe of another tenant's handle must not learn its kind from the unauthenticated /metrics."""
    import httpx

    def counts() -> dict:
        text = httpx.get(token_server.http_url + "/metrics", timeout=10).text
        lines = [line for line in text.splitlines() if line.startswith("bnns_request_seconds_count")
                 and 'rpc="FilterApplyBatch"' in line]
        return {line.split('kind="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1]) for line in lines}

    filter_id = stub.CreateFilter(fc_request(), metadata=metadata(TOKEN_A), timeout=CALL_TIMEOUT).filter_id
    before = counts()
    for token in (TOKEN_B, TOKEN_B, TOKEN_A):      # two probes by the other tenant, one bad call by the owner
        with pytest.raises(grpc.RpcError):
            stub.FilterApplyBatch(pb.FilterApplyBatchRequest(filter_id=filter_id, batch_size=1),
                                  metadata=metadata(token), timeout=CALL_TIMEOUT)
    after = counts()
    assert after.get("none", 0) - before.get("none", 0) == 2, (before, after)
    assert after.get("fully_connected", 0) - before.get("fully_connected", 0) == 1, (before, after)
