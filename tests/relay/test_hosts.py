"""Route host and domain syntax (pure)."""

import pytest

from relay.hosts import HostSpec, HostSyntaxError, domain_to_ascii, domain_to_unicode, parse_host


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", HostSpec("127.0.0.1", None)),
        ("127.0.0.1:2525", HostSpec("127.0.0.1", 2525)),
        ("mx.Example.ORG", HostSpec("mx.example.org", None)),
        ("mx.example.org:587", HostSpec("mx.example.org", 587)),
        ("[::1]", HostSpec("::1", None)),
        ("[2001:db8::1]:25", HostSpec("2001:db8::1", 25)),
        ("bücher.example", HostSpec("xn--bcher-kva.example", None)),
    ],
)
def test_parse_host__accepts_the_documented_forms(text, expected):
    assert parse_host(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "Enter a host"),
        ("127.0.0.1:0", "out of range"),
        ("127.0.0.1:65536", "out of range"),
        ("host:abc", "not a number"),
        ("::1", "brackets"),
        ("[::1", "missing ']'"),
        ("[zz::1]:25", "not an IPv6"),
        ("999.1.1.1", "not a valid IPv4"),
        ("bad_host!.example", "not a valid domain"),
        ("-lead.example", "not a valid domain"),
        ("a b", "white space"),
        ("example.123", "numeric top label"),
    ],
)
def test_parse_host__rejects_bad_syntax_with_a_clear_message(text, fragment):
    with pytest.raises(HostSyntaxError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        parse_host(text)


def test_host_spec__str_round_trips():
    for text in ["127.0.0.1", "127.0.0.1:25", "[::1]:25", "mx.example.org"]:
        assert str(parse_host(text)) == text


def test_idn__stored_as_a_label_and_shown_as_u_label():
    assert domain_to_ascii("Bücher.Example.") == "xn--bcher-kva.example"
    assert domain_to_unicode("xn--bcher-kva.example") == "bücher.example"
