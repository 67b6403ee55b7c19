"""A made-up admin password is kept, for this user only, until ADMIN_PASSWORD says otherwise."""

from __future__ import annotations

from services.settings import Settings
from services.stack.stack import PASSWORD_FILE, with_admin_password


def test_a_made_up_password_is_kept_readable_by_this_user_only_and_used_again(tmp_path):
    first = with_admin_password(Settings(admin_password=""), tmp_path)

    kept = tmp_path / PASSWORD_FILE
    assert len(first.admin_password) >= 20
    assert kept.read_text().strip() == first.admin_password
    assert kept.stat().st_mode & 0o777 == 0o600
    assert with_admin_password(Settings(admin_password=""), tmp_path) == first


def test_admin_password_says_otherwise_and_the_kept_one_stays(tmp_path):
    made_up = with_admin_password(Settings(admin_password=""), tmp_path).admin_password

    chosen = with_admin_password(Settings(admin_password="chosen-one"), tmp_path)

    assert chosen.admin_password == "chosen-one"
    assert (tmp_path / PASSWORD_FILE).read_text().strip() == made_up
