"""Deadbolt's second factor for this app: all the code the product added to get MFA.

The app checks a person's password itself, as it always did. Then `start` sends the browser to
Deadbolt with a signed request object (RFC 9101) that names the person by the app's own user
id; Deadbolt asks for the second factor, or sets one up the first time. Back at the callback,
`finish` redeems the code and checks the ID token with Authlib's own checks. Only then does the
app sign the person in.

The request object is signed with the app's own key (ES256), made at first start and kept in a
file; Deadbolt knows only its public half, given at registration (`python app.py --print-jwks`).
"""

import json
import os
import time

from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_client import OAuth, OAuthError
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import request, session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey


class Refused(Exception):
    """The second step did not complete; the person is not signed in."""


def load_or_create_key(path):
    """The app's signing key: read from `path`, or made and written there (mode 600) at first start."""
    if os.path.exists(path):
        with open(path) as f:
            return ECKey.import_key(json.load(f))
    key = ECKey.generate_key("P-256", {"alg": "ES256", "use": "sig"}, private=True, auto_kid=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        json.dump(key.as_dict(private=True), f)
    return key


def public_jwks(key):
    """What Deadbolt is given at registration: the public key only."""
    return {"keys": [key.as_dict(private=False)]}


class DeadboltMFA:
    def __init__(self, app, deadbolt_url, client_id, client_secret, redirect_uri, key):
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.key = key
        self.deadbolt = OAuth(app).register(
            "deadbolt",
            client_id=client_id,
            client_secret=client_secret,
            server_metadata_url=deadbolt_url.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": "openid", "token_endpoint_auth_method": "client_secret_basic"},
        )

    def start(self, user_id, email):
        """The URL to send the browser to, for `user_id` whose password the app has just checked."""
        metadata = self.deadbolt.load_server_metadata()
        state, nonce, verifier = generate_token(24), generate_token(24), generate_token(64)
        # kept in the app's session cookie until the callback: Authlib checks state, nonce and PKCE
        self.deadbolt.save_authorize_data(state=state, nonce=nonce, code_verifier=verifier, redirect_uri=self.redirect_uri)
        session["mfa_user_id"] = str(user_id)
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "client_id": self.client_id,
            "aud": metadata["issuer"],
            "iat": now,
            "exp": now + 300,
            "jti": generate_token(32),
            "response_type": "code",
            "redirect_uri": self.redirect_uri,
            "scope": "openid",
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
            # every sign-in here answers a second factor, even on a device Deadbolt was told to
            # trust (leave this out to let a trusted device stand in for it)
            "acr_values": "aal2",
            # this app has never verified addresses, so it says so
            "deadbolt_subject": {"external_id": str(user_id), "email": email, "email_verified": False},
        }
        header = {"alg": "ES256", "kid": self.key.kid, "typ": "oauth-authz-req+jwt"}
        request_object = jwt.encode(header, claims, self.key)
        return add_params_to_uri(
            metadata["authorization_endpoint"],
            {"client_id": self.client_id, "response_type": "code", "scope": "openid", "request": request_object},
        )

    def finish(self):
        """At the redirect URI: the user id whose second factor Deadbolt checked, and the ID token's claims."""
        user_id = session.pop("mfa_user_id", None)
        if user_id is None:
            raise Refused("no sign-in is waiting for its second step")
        issuer = self.deadbolt.load_server_metadata()["issuer"]
        if request.args.get("iss") != issuer:  # RFC 9207: the answer comes from our Deadbolt
            raise Refused("the answer did not come from the expected issuer")
        try:
            # state, the code exchange (client_secret_basic, PKCE), then the ID token: its
            # signature by Deadbolt's JWKS, exp, iat, nonce, azp, at_hash, and the claims below
            token = self.deadbolt.authorize_access_token(
                claims_options={
                    "iss": {"essential": True, "value": issuer},
                    "aud": {"essential": True, "value": self.client_id},
                    "sub": {"essential": True, "value": user_id},
                    "acr": {"essential": True, "value": "aal2"},
                }
            )
        except (OAuthError, JoseError) as e:
            raise Refused(f"{type(e).__name__}: {e}") from e
        if "userinfo" not in token:
            raise Refused("no ID token came back")
        return user_id, dict(token["userinfo"])
