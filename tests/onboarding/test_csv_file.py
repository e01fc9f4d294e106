"""The CSV file format on its own: reading uploads, writing exports (no database)."""

from __future__ import annotations

import pytest

from sessioncloud.onboarding.csvfile import (
    COLUMNS,
    CsvFileError,
    CsvRow,
    read_csv,
    safe_cell,
    write_csv,
)


def test_it_reads_a_bom_crlf_file_with_quoted_cells():
    data = (
        "\ufeffexternal_id,display_name,email\r\n"
        'alice,"Smith, Alice","alice@acme.example"\r\n'
        'bob,"Bob ""the builder""",\r\n'
    ).encode()
    parsed = read_csv(data)
    assert parsed.columns == ("external_id", "display_name", "email")
    assert parsed.rows == [
        CsvRow(2, {"external_id": "alice", "display_name": "Smith, Alice", "email": "alice@acme.example"}, 3),
        CsvRow(3, {"external_id": "bob", "display_name": 'Bob "the builder"', "email": ""}, 3),
    ]


def test_it_counts_lines_across_quoted_line_breaks_and_skips_blank_lines():
    data = b'external_id,display_name\n\nalice,"two\nlines"\n,\nbob,Bob\n'
    parsed = read_csv(data)
    assert [(row.line, row.values["external_id"]) for row in parsed.rows] == [(3, "alice"), (6, "bob")]


def test_it_accepts_the_management_apis_json_names_and_any_case():
    parsed = read_csv(
        b"externalId,Display Name,SIPUSERNAME,sippassword,auth-username\nalice,Alice,2001,pw,a\n"
    )
    assert parsed.columns == ("external_id", "display_name", "sip_username", "sip_password", "auth_username")


def test_it_trims_cells_but_never_passwords():
    parsed = read_csv(b"external_id,display_name,sip_password\n  alice , Alice ,  pw  \n")
    assert parsed.rows[0].values == {
        "external_id": "alice",
        "display_name": "Alice",
        "sip_password": "  pw  ",
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty: it needs a header line naming the columns."),
        (b"\n\n", "The file is empty: it needs a header line naming the columns."),
        (
            b"external_id;email\nalice;a@b.example\n",
            "The columns are separated by semicolons; separate them by commas.",
        ),
        (b"external_id\temail\n", "The columns are separated by tabs; separate them by commas."),
        (b"external_id,emial\n", "Unknown column 'emial'. The columns are: " + ", ".join(COLUMNS) + "."),
        (b"external_id,email,\n", "Column 3 of the header line has no name."),
        (b"external_id,email,Email\n", "The column email appears more than once."),
        (
            b"display_name,email\n",
            "The file needs an external_id column: it says which end user each row is.",
        ),
        ("external_id\nalice\n".encode("utf-16"), "The file is UTF-16 text; save it as CSV UTF-8."),
        (
            b"external_id,display_name\nalice,J\xf6rg\n",
            "The file is not UTF-8 text (line 2 cannot be read); save it as CSV UTF-8.",
        ),
        (b"external_id\nal\x00ice\n", "The file holds NUL characters; it is not a text file."),
        (
            b'external_id,display_name\nalice,"unterminated\n',
            "Line 2: the file is not valid CSV (unexpected end of data).",
        ),
    ],
)
def test_it_refuses_files_it_cannot_read_with_a_clear_message(data, message):
    with pytest.raises(CsvFileError) as error:
        read_csv(data)
    assert str(error.value) == message


def test_it_caps_rows_and_bytes():
    with pytest.raises(CsvFileError, match=r"^The file has more than 3 rows; split it into smaller files\.$"):
        read_csv(b"external_id\na\nb\nc\nd\n", max_rows=3)
    assert len(read_csv(b"external_id\na\nb\nc\n", max_rows=3).rows) == 3
    with pytest.raises(CsvFileError, match=r"^The file is larger than 1 MB; split it into smaller files\.$"):
        read_csv(b"external_id\n" + b"a\n" * 600_000, max_bytes=1024 * 1024)


def test_it_keeps_the_cell_count_so_ragged_rows_can_be_refused():
    parsed = read_csv(b"external_id,email\nalice\nbob,b@acme.example,extra\n")
    assert [(row.values, row.cells) for row in parsed.rows] == [
        ({"external_id": "alice"}, 1),
        ({"external_id": "bob", "email": "b@acme.example"}, 3),
    ]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+4420", "'+4420"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("'quoted", "''quoted"),
        ("alice", "alice"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_the_export_defuses_formulas_and_the_import_restores_the_value(value, written):
    assert safe_cell(value) == written
    exported = "".join(write_csv([{"external_id": "alice", "sip_password": value}])).encode()
    assert read_csv(exported).rows[0].values["sip_password"] == value


def test_the_export_has_every_column_a_bom_and_crlf_line_ends():
    text = "".join(write_csv([{"external_id": "alice", "display_name": "Smith, Alice"}]))
    assert text == "\ufeff" + ",".join(COLUMNS) + "\r\n" + 'alice,"Smith, Alice"' + "," * 12 + "\r\n"
