-- Sign-in hardening (issue 13).
-- token_version: every access token carries the version of its user at issue time; the API
-- refuses a token whose version is not the stored one. A password change or reset, a role
-- change and disabling the account bump it, so every earlier token ends at once.
-- must_change_password: set when an admin sets someone's password; until its owner picks a
-- new one, that account can do nothing but change it (the admin must not be able to use it).
ALTER TABLE users
    ADD COLUMN token_version integer NOT NULL DEFAULT 0,
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;
