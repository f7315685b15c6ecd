"""A small product with its own accounts: a users table, its own password check, sign-up,
sign-in and sign-out. It adds Deadbolt's second factor through the signed redirect; the lines
that do so are marked `# MFA`, and the rest of that work is in deadbolt_mfa.py.

    python app.py --print-jwks   # the public keys, for `deadbolt clients create --jwks FILE`
    python app.py                # serve (configuration: see README.md)
"""

import argparse
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import sys  # MFA

from flask import Flask, g, redirect, render_template, request, session, url_for

import deadbolt_mfa  # MFA

DATA_DIR = os.environ.get("DATA_DIR", "data")
PORT = int(os.environ.get("PORT", "5000"))
PUBLIC_URL = os.environ.get("PUBLIC_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
KEY_FILE = os.path.join(DATA_DIR, "request-signing-key.json")  # MFA

# ---- the product's own accounts ----


def db():
    if "db" not in g:
        g.db = sqlite3.connect(os.path.join(DATA_DIR, "users.db"))
        g.db.row_factory = sqlite3.Row
    return g.db


def hash_password(password, salt):
    return hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


def check_password(email, password):
    """The user whose password this is, or None (an unknown email costs the same work)."""
    user = db().execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
    salt = user["salt"] if user else b"\0" * 16
    digest = hash_password(password, salt)
    if user and hmac.compare_digest(digest, user["password_hash"]):
        return user
    return None


def secret_key():
    """The key that signs the app's session cookie: made at first start, kept in DATA_DIR."""
    path = os.path.join(DATA_DIR, "session-secret")
    if not os.path.exists(path):
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(secrets.token_hex(32))
    with open(path) as f:
        return f.read().strip()


def create_app():
    app = Flask(__name__)
    app.secret_key = secret_key()
    app.config.update(SESSION_COOKIE_SAMESITE="Lax")
    app.config.from_prefixed_env()  # any Flask setting from FLASK_* variables

    @app.teardown_appcontext
    def close_db(_):
        conn = g.pop("db", None)
        if conn is not None:
            conn.close()

    with sqlite3.connect(os.path.join(DATA_DIR, "users.db")) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL,"
            " salt BLOB NOT NULL, password_hash BLOB NOT NULL)"
        )
    mfa = deadbolt_mfa.DeadboltMFA(  # MFA
        app,  # MFA
        deadbolt_url=os.environ["DEADBOLT_URL"],  # MFA
        client_id=os.environ["CLIENT_ID"],  # MFA
        client_secret=os.environ["CLIENT_SECRET"],  # MFA
        redirect_uri=f"{PUBLIC_URL}/callback",  # MFA
        key=deadbolt_mfa.load_or_create_key(KEY_FILE),  # MFA
    )  # MFA

    @app.get("/")
    def home():
        user = None
        if "user_id" in session:
            user = db().execute("SELECT * FROM users WHERE id = ?", (session["user_id"],)).fetchone()
        return render_template("home.html", user=user, mfa=session.get("mfa"))

    @app.route("/sign-up", methods=["GET", "POST"])
    def sign_up():
        if request.method == "GET":
            return render_template("form.html", title="Sign up", action="Sign up")
        email = request.form.get("email", "").strip().lower()
        password = request.form.get("password", "")
        if "@" not in email or len(password) < 8:
            error = "An email address, and a password of at least 8 characters."
            return render_template("form.html", title="Sign up", action="Sign up", error=error), 400
        salt = secrets.token_bytes(16)
        try:
            with db():
                db().execute(
                    "INSERT INTO users (email, salt, password_hash) VALUES (?, ?, ?)",
                    (email, salt, hash_password(password, salt)),
                )
        except sqlite3.IntegrityError:
            error = "That email address already has an account."
            return render_template("form.html", title="Sign up", action="Sign up", error=error), 400
        return redirect(url_for("sign_in", created=1))

    @app.route("/sign-in", methods=["GET", "POST"])
    def sign_in():
        if request.method == "GET":
            notice = "Your account is ready: sign in." if request.args.get("created") else None
            return render_template("form.html", title="Sign in", action="Sign in", notice=notice)
        user = check_password(request.form.get("email", "").strip().lower(), request.form.get("password", ""))
        if user is None:
            error = "Wrong email address or password."
            return render_template("form.html", title="Sign in", action="Sign in", error=error), 401
        session.clear()
        # the password is right: the second factor at Deadbolt before the session is signed in
        return redirect(mfa.start(user["id"], user["email"]))  # MFA

    @app.get("/callback")  # MFA
    def callback():  # MFA
        try:  # MFA
            user_id, claims = mfa.finish()  # MFA
        except deadbolt_mfa.Refused as e:  # MFA
            return render_template("refused.html", reason=str(e)), 400  # MFA
        session.clear()
        session["user_id"] = int(user_id)
        session["mfa"] = {k: claims.get(k) for k in ("amr", "acr", "auth_time")}  # MFA
        return redirect(url_for("home"))

    @app.post("/sign-out")
    def sign_out():
        session.clear()
        return redirect(url_for("home"))

    return app


def main():
    parser = argparse.ArgumentParser(description="A product with its own accounts and Deadbolt's second factor.")
    parser.add_argument("--print-jwks", action="store_true", help="print the public JWKS and exit")  # MFA
    args = parser.parse_args()
    os.makedirs(DATA_DIR, mode=0o700, exist_ok=True)
    if args.print_jwks:  # MFA
        print(json.dumps(deadbolt_mfa.public_jwks(deadbolt_mfa.load_or_create_key(KEY_FILE)), indent=2))  # MFA
        return  # MFA
    missing = [name for name in ("DEADBOLT_URL", "CLIENT_ID", "CLIENT_SECRET") if not os.environ.get(name)]  # MFA
    if missing:  # MFA
        sys.exit(f"app.py: set {', '.join(missing)} (see README.md)")  # MFA
    create_app().run(host="127.0.0.1", port=PORT)


if __name__ == "__main__":
    main()
