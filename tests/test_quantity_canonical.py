"""components/quantity.py writes a quantity as the API server stores it. The expected forms are those of
k8s.io/apimachinery's own tests (pkg/api/resource/quantity_test.go TestQuantityParseEmit and TestQuantityString,
read at kubernetes/apimachinery eed236ce), plus the values Crucible's team quotas carry."""

from __future__ import annotations

import pytest

from decimal import Decimal

from components.quantity import canonical, value_of

UPSTREAM = [
    # TestQuantityParseEmit
    ("1Ki", "1Ki"),
    ("1Mi", "1Mi"),
    ("1Gi", "1Gi"),
    ("1024Mi", "1Gi"),
    ("1000M", "1G"),
    (".001Ki", "1024m"),  # binary but not whole: decimal
    (".000001Ki", "1024u"),
    (".000000001Ki", "1024n"),
    (".000000000001Ki", "2n"),  # finer than nano: rounded up
    # TestQuantityString, written as text
    ("300Mi", "300Mi"),
    ("6Ki", "6Ki"),
    ("1001Gi", "1001Gi"),
    ("1024Gi", "1Ti"),
    ("0.5", "500m"),
    ("1000000000", "1G"),
    ("0.001", "1m"),
    ("0.08", "80m"),
    ("1.08", "1080m"),
    ("300M", "300M"),
    ("1T", "1T"),
    ("1234567M", "1234567M"),
    ("3k", "3k"),
    ("1025", "1025"),
    ("0", "0"),
    ("0Gi", "0"),
]


@pytest.mark.parametrize(("written", "stored"), UPSTREAM)
def test_the_api_servers_canonical_form(written, stored):
    assert canonical(written) == stored


@pytest.mark.parametrize(("written", "stored"), [(w, s) for w, s in UPSTREAM if s != "0"])
def test_negative_quantities_keep_their_sign(written, stored):
    assert canonical("-" + written) == "-" + stored


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("2000Gi", "2000Gi"),
        ("2048Gi", "2Ti"),
        ("20096Gi", "20096Gi"),
        ("2176", "2176"),
        ("1000", "1k"),
        ("20", "20"),
        ("512Ki", "512Ki"),
        ("1023Ki", "1023Ki"),
        ("5Ki", "5Ki"),
        ("1000Ki", "1000Ki"),
        (16, "16"),
    ],
)
def test_quota_values(written, stored):
    assert canonical(written) == stored


def test_a_small_binary_quantity_is_written_in_decimal():
    assert canonical("0.5Ki") == "512"  # below 1024: no binary suffix


@pytest.mark.parametrize("bad", ["", "1e3", "12x", "Gi", "1.2.3", True, "1000E", "8Ei", "1."])
def test_what_is_no_quantity_or_not_modelled_is_refused(bad):
    with pytest.raises(ValueError):
        canonical(bad)


@pytest.mark.parametrize("kept_as_written", ["+5", "010", "05Gi", "1.500k", "2.500"])
def test_spellings_the_api_server_stores_as_written_are_refused(kept_as_written):
    # ParseQuantity's fast path reuses the input string when its digits look canonical (quantity.go: "if the number
    # is in canonical form, reuse the string"): these are stored as written, not in the form canonical() computes
    with pytest.raises(ValueError, match="normal form"):
        canonical(kept_as_written)


@pytest.mark.parametrize(
    ("written", "value"), [("1e3", 1000), ("+5", 5), ("05Gi", 5 * 2**30), ("1.500k", 1500), ("500m", Decimal("0.5")), (8, 8), ("16Gi", 16 * 2**30)]
)
def test_every_spelling_the_api_accepts_has_its_exact_value(written, value):
    assert value_of(written) == value


@pytest.mark.parametrize("bad", ["", "12x", "Gi", True, None, [1]])
def test_what_is_no_quantity_has_no_value(bad):
    assert value_of(bad) is None


def test_a_computed_float_is_read_to_nano_precision_and_whole_values_print_without_exponent():
    assert value_of(0.1 * 3) == Decimal("0.3")  # binary noise is not a nanocore more
    assert str(value_of("2k")) == "2000" and str(value_of("16Gi")) == str(16 * 2**30)
    assert value_of(Decimal("1.5")) == Decimal("1.5")
    assert value_of(float("nan")) is None and value_of("٣") is None  # non-ASCII digits are no quantity
