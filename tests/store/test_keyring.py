"""Master key and keyring (skruntime/store/_keyring.py), and the start-up
errors a wrong, missing or malformed key produces."""

from __future__ import annotations

import base64
import logging
import stat

import pytest

from skruntime import KeyConfigError
from skruntime.store import LmdbStore, create_key_file, read_key_file
from skruntime.store._keyring import Keyring, MasterKey, parse_master_key

from .conftest import MASTER, MASTER_B64, OTHER_B64, make_config


def test_key_file_is_created_0600_and_never_overwritten(tmp_path):
    path = tmp_path / "keys" / "skruntime.key"
    master = create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text().strip())) == 32
    assert read_key_file(path).source == master.source
    before = path.read_bytes()
    with pytest.raises(KeyConfigError, match="already exists"):
        create_key_file(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not base64 at all!", "not a valid master key"),
        (base64.b64encode(b"short").decode(), "decodes to 5 bytes"),
        ("", "decodes to 0 bytes"),
    ],
)
def test_malformed_keys(text, message):
    with pytest.raises(KeyConfigError, match=message):
        parse_master_key(text, "SKRUNTIME_MASTER_KEY")


def test_master_key_never_shows_itself():
    master = parse_master_key(MASTER_B64, "test")
    assert MASTER_B64 not in repr(master) and "test" in repr(master)


def test_keyring_wrap_unwrap_rotate():
    master = MasterKey(MASTER, "test")
    keyring = Keyring.new().rotated().rotated()
    opened = Keyring.unwrap(keyring.wrap(master), master)
    assert opened.current == 3 and opened.key_ids == [1, 2, 3]
    with pytest.raises(KeyConfigError, match="wrong key"):
        Keyring.unwrap(keyring.wrap(master), MasterKey(bytes(32), "other"))
    with pytest.raises(KeyConfigError, match="damaged"):
        Keyring.unwrap(b"\x09" + bytes(40), master)


# -- start-up -----------------------------------------------------------------


def test_first_start_creates_the_key_file_loudly(tmp_path, caplog):
    config = make_config(tmp_path, key=None)
    with caplog.at_level(logging.WARNING, logger="skruntime.store"):
        LmdbStore.open(config).close()
    key_file = tmp_path / "skruntime.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "CREATED A NEW MASTER KEY" in caplog.text and str(key_file) in caplog.text
    LmdbStore.open(config).close()  # the second start reads it


def test_missing_key_file_for_an_existing_store(tmp_path):
    config = make_config(tmp_path, key=None)
    LmdbStore.open(config).close()
    (tmp_path / "skruntime.key").unlink()
    with pytest.raises(KeyConfigError, match="does not exist.*was created with a master key"):
        LmdbStore.open(config)
    assert not (tmp_path / "skruntime.key").exists()  # no new key is made for old data


def test_malformed_key_file(tmp_path):
    config = make_config(tmp_path, key=None)
    LmdbStore.open(config).close()
    (tmp_path / "skruntime.key").write_text("this is not a key\n")
    with pytest.raises(KeyConfigError, match="is not a valid master key"):
        LmdbStore.open(config)


def test_malformed_environment_key(tmp_path):
    with pytest.raises(KeyConfigError, match="SKRUNTIME_MASTER_KEY is not a valid master key"):
        LmdbStore.open(make_config(tmp_path, key="c2hvcnQ="))


def test_wrong_key(tmp_path):
    LmdbStore.open(make_config(tmp_path)).close()
    with pytest.raises(KeyConfigError, match="wrong key for this data directory"):
        LmdbStore.open(make_config(tmp_path, key=OTHER_B64))


def test_wrong_key_file(tmp_path):
    config = make_config(tmp_path, key=None)
    LmdbStore.open(config).close()
    (tmp_path / "skruntime.key").unlink()
    create_key_file(tmp_path / "skruntime.key")
    with pytest.raises(KeyConfigError, match="key file .* does not open this store"):
        LmdbStore.open(config)


def test_environment_key_wins_over_the_key_file(tmp_path):
    LmdbStore.open(make_config(tmp_path)).close()
    assert not (tmp_path / "skruntime.key").exists()


def test_key_file_inside_the_data_directory_is_refused(tmp_path):
    config = make_config(tmp_path, key=None)
    config = type(config).from_mapping(
        {
            "store": {"data_dir": str(tmp_path / "data")},
            "security": {"key_file": str(tmp_path / "data" / "skruntime.key")},
        }
    )
    with pytest.raises(KeyConfigError, match="inside the data directory"):
        LmdbStore.open(config)
