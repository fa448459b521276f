import pytest

from fleetpilot.errors import ConfigError
from fleetpilot.urls import check_database_url, parse_mqtt_url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/db",
        "postgres://u:p@db.example:6543/x",
        "postgresql://postgres:@/postgres?host=/tmp/pg",
    ],
)
def test_good_database_urls_pass(url):
    assert check_database_url(url) == url


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://x/y", "must start with postgresql://"),
        ("127.0.0.1:5432", "must start with postgresql://"),
        ("postgresql://u@h:port/db", "bad port"),
        ("postgresql:///db", "names no host"),
    ],
)
def test_bad_database_urls_say_why(url, message):
    with pytest.raises(ConfigError, match=message):
        check_database_url(url)


def test_mqtt_url_parts_and_defaults():
    t = parse_mqtt_url("mqtt://dev%40ice:s3cret@broker.local")
    assert (t.host, t.port, t.username, t.password, t.tls) == ("broker.local", 1883, "dev@ice", "s3cret", False)
    assert parse_mqtt_url("mqtts://b").port == 8883


@pytest.mark.parametrize("url", ["http://b:1883", "mqtt://", "mqtt://h:notaport"])
def test_bad_mqtt_urls_are_refused(url):
    with pytest.raises(ConfigError):
        parse_mqtt_url(url)


def test_password_is_redacted_in_errors():
    with pytest.raises(ConfigError) as err:
        check_database_url("postgresql://u:hunter2@h:bad/db")
    assert "hunter2" not in str(err.value)
