"""Authentication: password hashing, access tokens, sign-in with lockout, sign-out."""
