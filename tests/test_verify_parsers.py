"""verify's parsers read what the tools print: nccl-tests all_reduce_perf, GNU/busybox dd, fio JSON."""

from __future__ import annotations

import pytest

from stacks.tools.verify.parsers import ParseError, network_ratio, parse_dd, parse_fio_json, parse_nccl
from verify_data import DD_BUSYBOX, DD_GNU, FIO_JSON, NCCL_ROWS, nccl_log


def test_nccl_table_rows_peak_and_average_bus_bandwidth():
    result = parse_nccl(nccl_log())
    assert [r.size_bytes for r in result.rows] == [row[0] for row in NCCL_ROWS]
    assert result.peak_busbw_gbs == pytest.approx(287.08)
    assert result.largest.busbw_out_of_place == pytest.approx(286.50)
    assert result.avg_busbw_gbs == pytest.approx(162.61)
    assert result.wrong == 0


def test_nccl_transport_is_read_from_nccl_info_lines():
    assert parse_nccl(nccl_log()).transport == "efa"
    assert parse_nccl(nccl_log(transport_line="NCCL INFO NET/Socket : Using [0]eth0:10.1.2.3<0>")).transport == "socket"


def test_nccl_wrong_results_are_counted():
    assert parse_nccl(nccl_log(wrong=3)).wrong == 3 * len(NCCL_ROWS)


def test_nccl_without_validation_reads_na_as_unknown():
    text = nccl_log().replace("      0  ", "    N/A  ")
    result = parse_nccl(text)
    assert result.wrong == 0 and len(result.rows) == len(NCCL_ROWS)


def test_nccl_older_table_without_root_column():
    text = "\n".join(line.replace("     sum      -1  ", "     sum  ") for line in nccl_log().splitlines())
    assert parse_nccl(text).peak_busbw_gbs == pytest.approx(287.08)


def test_nccl_output_without_a_table_is_an_error():
    with pytest.raises(ParseError, match="no nccl-tests result rows"):
        parse_nccl("mpirun was unable to launch the specified application\n# Avg bus bandwidth    : 0\n")


def test_network_ratio_is_bus_bandwidth_bits_over_the_network_figure():
    assert network_ratio(287.08, 3200) == pytest.approx(287.08 * 8 / 3200)
    assert network_ratio(100.0, None) is None


def test_dd_gnu_throughput_is_bytes_over_seconds():
    result = parse_dd(DD_GNU)
    assert result.bytes == 1073741824 and result.seconds == pytest.approx(1.79443)
    assert result.mbps == pytest.approx(1073741824 / 1.79443 / 1e6)


def test_dd_busybox_summary_line():
    assert parse_dd(DD_BUSYBOX).mbps == pytest.approx(1073741824 / 1.79443 / 1e6)


def test_dd_decimal_comma_locale():
    assert parse_dd("1048576000 bytes (1,0 GB, 1000 MiB) copied, 2,5 s, 419 MB/s").mbps == pytest.approx(419.4304)


def test_dd_error_output_is_an_error():
    with pytest.raises(ParseError):
        parse_dd("dd: failed to open '/mnt/lustre/x': Read-only file system\n")


def test_fio_json_after_a_note_line():
    result = parse_fio_json(FIO_JSON)
    assert result.bytes == 1073741824 and result.mbps == pytest.approx(612.892)
    assert result.seconds == pytest.approx(1.752)


def test_fio_failed_job_is_an_error():
    with pytest.raises(ParseError, match="failed"):
        parse_fio_json(FIO_JSON.replace('"error" : 0', '"error" : 5'))
