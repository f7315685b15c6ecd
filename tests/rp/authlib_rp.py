"""A relying party written with Authlib, for Deadbolt's end-to-end OpenID Connect tests.

A small web app, as an integrator would write one: Python's http.server for the pages,
Authlib's requests integration (OAuth2Session) for every OAuth call, and Authlib's own
ID-token checks (authlib.oidc.core.CodeIDToken over a JWT verified with the provider's JWKS,
the way Authlib's own OpenID client does it). Nothing here knows Deadbolt's paths: every
endpoint comes from the discovery document of the issuer given on the command line.

    python3 tests/rp/authlib_rp.py --issuer http://localhost:8080 --client-id dbc_... \\
        --client-secret dbcs_... --port 8765

It listens on 127.0.0.1:PORT (0: any free port) and prints `READY <port>` once listening.
Its redirect URI is http://127.0.0.1:PORT/callback and its post-logout redirect URI
http://127.0.0.1:PORT/logged-out: register both. It authenticates at the token endpoint with
client_secret_post and accepts only ID tokens signed with the registered algorithm
(--id-token-alg, RS256 by default).

Routes:
  /login         starts the authorization code flow (PKCE S256, state, nonce); acr_values,
                 max_age, prompt, login_hint and scope in its query are passed on
  /callback      the redirect URI: checks iss (RFC 9207) and state, redeems the code,
                 validates the ID token, calls userinfo
  /refresh       a refresh token grant (the new ID token, if any, validated again)
  /introspect    RFC 7662 on ?token=access|refresh
  /revoke        RFC 7009 on the refresh token, then tries a refresh with it
  /logout        RP-initiated logout: to the end_session_endpoint with id_token_hint,
                 post_logout_redirect_uri and state
  /logged-out    the post-logout redirect URI
  /state.json    what happened so far (the ID token's claims, userinfo, errors, ...)

This is a single-user test app: it keeps one person's tokens in memory.
"""

import argparse
import json
import os
import sys
import threading
import time
import traceback
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

# The provider under test runs on plain http on the loopback interface.
os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
warnings.simplefilter("ignore", DeprecationWarning)

import requests  # noqa: E402
from authlib.common.security import generate_token  # noqa: E402
from authlib.integrations.base_client.errors import OAuthError  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.oidc.core import CodeIDToken, UserInfo  # noqa: E402
from joserfc import jwt  # noqa: E402  (Authlib's own JOSE layer since 1.7)
from joserfc.errors import InvalidKeyIdError  # noqa: E402
from joserfc.jwk import KeySet  # noqa: E402
from joserfc.jws import JWSRegistry  # noqa: E402

ID_TOKEN_ALG = "RS256"  # the default of --id-token-alg
LEEWAY = 60
DEFAULT_SCOPE = "openid profile email phone offline_access"


class RelyingParty:
    def __init__(self, issuer, client_id, client_secret, port, id_token_alg=ID_TOKEN_ALG):
        self.issuer = issuer
        self.id_token_alg = id_token_alg
        self.client_id = client_id
        self.client_secret = client_secret
        self.base = f"http://127.0.0.1:{port}"
        self.redirect_uri = f"{self.base}/callback"
        self.post_logout_redirect_uri = f"{self.base}/logged-out"
        self.lock = threading.Lock()
        self.pending = {}  # state -> what the callback must check
        self.token = None
        self.jwks = None
        self.logout_state = None
        self.state = {
            "issuer": issuer,
            "client_id": client_id,
            "metadata": None,
            "authorization_requests": [],
            "callbacks": 0,
            "id_token_header": None,
            "id_token_claims": None,
            "userinfo": None,
            "token": None,
            "refresh": None,
            "introspection": {},
            "revocation": None,
            "logout": None,
            "last_error": None,
            "errors": [],
        }
        self.metadata = self.discover()

    # ---- the provider ----

    def discover(self):
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        r = requests.get(url, timeout=10)
        r.raise_for_status()
        metadata = r.json()
        # OpenID Connect Discovery 1.0, 4.3: the issuer must be exactly the one asked
        if metadata.get("issuer") != self.issuer:
            raise RuntimeError(f"discovery issuer {metadata.get('issuer')!r} is not {self.issuer!r}")
        self.state["metadata"] = metadata
        return metadata

    def fetch_jwks(self, force=False):
        if self.jwks is None or force:
            r = requests.get(self.metadata["jwks_uri"], timeout=10)
            r.raise_for_status()
            self.jwks = r.json()
        return self.jwks

    def session(self, token=None):
        return OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method="client_secret_post",
            scope=DEFAULT_SCOPE,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token=token,
        )

    def validate_id_token(self, id_token, nonce, access_token=None, max_age=None):
        """Authlib's checks (as its OpenIDMixin.parse_id_token makes them), with the audience
        and the registered algorithm pinned: signature by a key of the JWKS, iss, aud, exp,
        iat, nonce, azp, at_hash, auth_time present when max_age was sent."""
        registry = JWSRegistry(algorithms=[self.id_token_alg], strict_check_header=False)
        try:
            decoded = jwt.decode(id_token, KeySet.import_key_set(self.fetch_jwks()), registry=registry)
        except InvalidKeyIdError:
            decoded = jwt.decode(id_token, KeySet.import_key_set(self.fetch_jwks(force=True)), registry=registry)
        claims_options = {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": self.client_id},
        }
        claims_params = {"nonce": nonce, "client_id": self.client_id, "max_age": max_age}
        if access_token:
            claims_params["access_token"] = access_token
        claims = CodeIDToken(decoded.claims, decoded.header, claims_options, claims_params)
        claims.validate(leeway=LEEWAY)
        if max_age is not None:
            # OpenID Connect Core 3.1.3.7 step 11: the authentication is recent enough
            if claims["auth_time"] + max_age + LEEWAY < time.time():
                raise ValueError(f"auth_time {claims['auth_time']} is older than max_age {max_age}")
        return dict(decoded.header), dict(claims)

    # ---- the routes ----

    def login(self, query):
        state = generate_token(24)
        nonce = generate_token(24)
        code_verifier = generate_token(64)
        extra = {k: query[k] for k in ("acr_values", "max_age", "prompt", "login_hint") if query.get(k)}
        scope = query.get("scope") or DEFAULT_SCOPE
        url, state = self.session().create_authorization_url(
            self.metadata["authorization_endpoint"],
            state=state,
            code_verifier=code_verifier,
            nonce=nonce,
            scope=scope,
            **extra,
        )
        with self.lock:
            self.pending[state] = {
                "nonce": nonce,
                "code_verifier": code_verifier,
                "max_age": int(extra["max_age"]) if "max_age" in extra else None,
            }
            self.state["authorization_requests"].append({"url": url, **extra, "scope": scope})
        return url

    def callback(self, raw_query):
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        with self.lock:
            self.state["callbacks"] += 1
            pending = self.pending.pop(query.get("state", ""), None)
        if pending is None:
            raise Failure("callback", "unknown_state", f"no login is waiting for state {query.get('state')!r}", query)
        # RFC 9207: the issuer names itself in the response, and it is the one we asked
        if self.metadata.get("authorization_response_iss_parameter_supported") or "iss" in query:
            if query.get("iss") != self.issuer:
                raise Failure("callback", "issuer_mismatch", f"iss {query.get('iss')!r} is not {self.issuer!r}", query)
        if "error" in query:
            raise Failure("authorization", query["error"], query.get("error_description"), query)
        session = self.session()
        try:
            token = session.fetch_token(
                self.metadata["token_endpoint"],
                authorization_response=f"{self.redirect_uri}?{raw_query}",
                state=query["state"],
                code_verifier=pending["code_verifier"],
            )
        except OAuthError as e:
            raise Failure("token", e.error, e.description, query) from e
        if "id_token" not in token:
            raise Failure("token", "no_id_token", "the token response has no id_token", query)
        header, claims = self.validate_id_token(
            token["id_token"], pending["nonce"], token["access_token"], pending["max_age"]
        )
        userinfo = self.userinfo(session, claims["sub"])
        with self.lock:
            self.token = dict(token)
            self.state.update(
                id_token_header=header,
                id_token_claims=claims,
                userinfo=userinfo,
                token=describe(token),
                last_error=None,
            )
        return claims

    def userinfo(self, session, sub):
        r = session.get(self.metadata["userinfo_endpoint"])
        if r.status_code != 200:
            raise Failure("userinfo", f"http_{r.status_code}", r.headers.get("www-authenticate"), {})
        info = UserInfo(r.json())
        # OpenID Connect Core 5.3.4: the userinfo sub must be the ID token's
        if info.get("sub") != sub:
            raise Failure("userinfo", "sub_mismatch", f"userinfo sub {info.get('sub')!r} is not {sub!r}", {})
        return dict(info)

    def refresh(self):
        old = self.need_token()
        session = self.session(old)
        try:
            new = session.refresh_token(self.metadata["token_endpoint"], refresh_token=old["refresh_token"])
        except OAuthError as e:
            raise Failure("refresh", e.error, e.description, {}) from e
        out = {
            "ok": True,
            "token": describe(new),
            "access_token_changed": new["access_token"] != old["access_token"],
            "refresh_token_rotated": bool(new.get("refresh_token")) and new["refresh_token"] != old["refresh_token"],
        }
        previous = self.state["id_token_claims"]
        if new.get("id_token"):
            # OpenID Connect Core 12.2: the same iss, sub, aud and auth_time as the original
            _, claims = self.validate_id_token(new["id_token"], None, new["access_token"])
            out["id_token_claims"] = claims
            out["same_sub"] = claims["sub"] == previous["sub"]
            out["same_auth_time"] = claims.get("auth_time") == previous.get("auth_time")
        out["userinfo"] = self.userinfo(session, previous["sub"])
        with self.lock:
            if not new.get("refresh_token"):
                new["refresh_token"] = old["refresh_token"]
            if not new.get("id_token"):
                new["id_token"] = old.get("id_token")
            self.token = dict(new)
            self.state["refresh"] = out
        return out

    def introspect(self, which):
        token = self.need_token()
        key = "refresh_token" if which == "refresh" else "access_token"
        r = self.session(token).introspect_token(
            self.metadata["introspection_endpoint"], token=token[key], token_type_hint=key
        )
        out = {"status": r.status_code, "body": r.json() if r.content else None}
        with self.lock:
            self.state["introspection"][which] = out
        return out

    def revoke(self):
        token = self.need_token()
        session = self.session(token)
        r = session.revoke_token(
            self.metadata["revocation_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token"
        )
        out = {"status": r.status_code}
        try:
            session.refresh_token(self.metadata["token_endpoint"], refresh_token=token["refresh_token"])
            out["refresh_after"] = {"ok": True}
        except OAuthError as e:
            out["refresh_after"] = {"ok": False, "error": e.error, "error_description": e.description}
        with self.lock:
            self.state["revocation"] = out
        return out

    def logout_url(self):
        token = self.need_token()
        self.logout_state = generate_token(24)
        params = {
            "id_token_hint": token["id_token"],
            "post_logout_redirect_uri": self.post_logout_redirect_uri,
            "state": self.logout_state,
            "client_id": self.client_id,
        }
        return f"{self.metadata['end_session_endpoint']}?{urlencode(params)}"

    def logged_out(self, raw_query):
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        out = {"query": query, "state_matches": query.get("state") == self.logout_state}
        with self.lock:
            self.state["logout"] = out
            self.token = None
        return out

    def need_token(self):
        if not self.token:
            raise Failure("app", "not_signed_in", "no tokens yet", {})
        return self.token

    def record(self, failure):
        error = {"where": failure.where, "error": failure.error, "error_description": failure.description}
        error.update({k: v for k, v in failure.query.items() if k in ("state", "iss")})
        with self.lock:
            self.state["last_error"] = error
            self.state["errors"].append(error)
        return error


class Failure(Exception):
    def __init__(self, where, error, description, query):
        super().__init__(f"{where}: {error}: {description}")
        self.where = where
        self.error = error
        self.description = description
        self.query = query


def describe(token):
    """The token response without the secrets in it."""
    return {
        "token_type": token.get("token_type"),
        "scope": token.get("scope"),
        "expires_in": token.get("expires_in"),
        "has_access_token": bool(token.get("access_token")),
        "has_refresh_token": bool(token.get("refresh_token")),
        "has_id_token": bool(token.get("id_token")),
    }


def make_handler(rp):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # quiet: the test reads /state.json
            pass

        def send(self, status, body, content_type="text/html; charset=utf-8", headers=()):
            data = body.encode()
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            self.send_header("cache-control", "no-store")
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def redirect(self, location):
            self.send(302, "", headers=[("location", location)])

        def page(self, title, text):
            self.send(200, f"<!doctype html><title>{title}</title><h1 id=title>{title}</h1><pre id=text>{text}</pre>")

        def do_GET(self):
            url = urlsplit(self.path)
            query = dict(parse_qsl(url.query))
            try:
                if url.path == "/login":
                    self.redirect(rp.login(query))
                elif url.path == "/callback":
                    claims = rp.callback(url.query)
                    self.page("Signed in", html_escape(json.dumps({"sub": claims["sub"], "acr": claims.get("acr")})))
                elif url.path == "/refresh":
                    self.page("Refreshed", html_escape(json.dumps(rp.refresh())))
                elif url.path == "/introspect":
                    self.page("Introspected", html_escape(json.dumps(rp.introspect(query.get("token", "access")))))
                elif url.path == "/revoke":
                    self.page("Revoked", html_escape(json.dumps(rp.revoke())))
                elif url.path == "/logout":
                    self.redirect(rp.logout_url())
                elif url.path == "/logged-out":
                    self.page("Signed out", html_escape(json.dumps(rp.logged_out(url.query))))
                elif url.path == "/state.json":
                    with rp.lock:
                        body = json.dumps(rp.state, indent=2)
                    self.send(200, body, "application/json")
                elif url.path == "/":
                    self.page("Authlib relying party", "")
                else:
                    self.send(404, "not found", "text/plain")
            except Failure as f:
                error = rp.record(f)
                self.send(400, f"<!doctype html><title>Error</title><h1 id=title>Error</h1><pre id=text>"
                          f"{html_escape(json.dumps(error))}</pre>")
            except Exception as e:  # a check failed: say which, for the test's log
                error = rp.record(Failure("app", type(e).__name__, str(e), {}))
                traceback.print_exc(file=sys.stderr)
                self.send(500, f"<!doctype html><title>Error</title><h1 id=title>Error</h1><pre id=text>"
                          f"{html_escape(json.dumps(error))}</pre>")

    return Handler


def html_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--id-token-alg", default=ID_TOKEN_ALG, help="the registered ID token algorithm")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), None)
    port = server.server_address[1]
    rp = RelyingParty(args.issuer, args.client_id, args.client_secret, port, args.id_token_alg)
    server.RequestHandlerClass = make_handler(rp)
    print(f"READY {port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
