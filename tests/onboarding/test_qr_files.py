"""QR codes in bulk: a ZIP of PNGs named by external id, and a printable PDF sheet."""

from __future__ import annotations

import io
import zipfile

import pypdfium2
import pytest
import zxingcpp

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.codes.formats import parse_code
from sessioncloud.codes.qr import decode_image
from sessioncloud.onboarding import jobs
from sessioncloud.onboarding.models import JobStatus
from sessioncloud.onboarding.sheet import CARDS_PER_PAGE
from sessioncloud.providers.endusers import local_code
from sessioncloud.providers.models import EndUser, SetupToken, hash_token
from tests.factories import make_app, make_end_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def thirteen(app) -> list[EndUser]:
    return [
        make_end_user(
            app,
            f"user{index:02d}",
            display_name=f"Üser {index}",
            sip_username=f"20{index:02d}",
            sip_password=f"pw|{index}:x",
            transport="TLS",
        )
        for index in range(13)
    ]


def png_files(job) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(jobs.job_result(job).content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def pdf_page_codes(data: bytes) -> list[list[str]]:
    """The QR codes on each page, as a phone camera would read a printed sheet (rasterised)."""
    document = pypdfium2.PdfDocument(data)
    pages = []
    for index in range(len(document)):
        image = document[index].render(scale=2).to_pil().convert("L")
        found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
        # Reading order: top to bottom, then left to right.
        found = sorted(
            found, key=lambda code: (round(code.position.top_left.y / 50), code.position.top_left.x)
        )
        pages.append([code.text for code in found])
    return pages


def test_a_zip_of_setup_tokens_holds_one_png_per_user_each_decoding_to_a_token_for_that_user(
    app, thirteen, settings
):
    job = jobs.start_job(app, "qr_zip", code_format="token", actor="tests")
    assert (job.status, job.done, job.total) == (JobStatus.DONE, 13, 13)
    assert (job.result_name, job.result_type) == ("AcmeInc-qr-token.zip", "application/zip")
    files = png_files(job)
    assert sorted(files) == [f"user{index:02d}.png" for index in range(13)]
    for name, png in files.items():
        address = decode_image(png)  # the App uses Linphone: its remote provisioning address
        assert address.startswith(f"{settings.PUBLIC_URL}/api/v1/linphone/")
        token = SetupToken.objects.get(token_hash=hash_token(address.rsplit("/", 1)[1]))
        assert (token.end_user.external_id, token.uses, token.max_uses, token.created_by) == (
            name.removesuffix(".png"),
            0,
            1,
            "tests",
        )
    assert SetupToken.objects.count() == 13
    assert AuditEntry.objects.filter(action="token.create").count() == 13
    assert job.report == {
        "format": "token",
        "requested": 13,
        "included": 13,
        "skipped": 0,
        "items": [
            {"externalId": f"user{index:02d}", "status": "included", "message": ""} for index in range(13)
        ],
    }


def test_a_zip_of_local_codes_carries_each_users_own_credentials(app, thirteen):
    job = jobs.start_job(app, "qr_zip", code_format="local", external_ids=["user07", "user02"], actor="tests")
    files = png_files(job)
    assert sorted(files) == ["user02.png", "user07.png"]
    parsed = parse_code(decode_image(files["user07.png"]))
    assert (parsed.provider_id, parsed.sipaccounts[0].as_dict()) == (
        "AcmeInc",
        {"sipusername": "2007", "sippassword": "pw|7:x", "transport": "TLS", "displayname": "Üser 7"},
    )
    assert SetupToken.objects.count() == 0


def test_a_zip_of_external_codes_carries_the_provisioning_login(org):
    external = make_app(
        org, "ExtInc", provisioning_mode="external", provisioning_url="https://prov.acme.example/p"
    )
    make_end_user(
        external,
        "alice",
        sip_username="",
        sip_password="",
        provisioning_username="alice",
        provisioning_password="1234",
    )
    make_end_user(
        external,
        "colon",
        sip_username="",
        sip_password="",
        provisioning_username="colon",
        provisioning_password="12:34",
    )
    make_end_user(external, "sip-only")
    job = jobs.start_job(external, "qr_zip", code_format="external", actor="tests")
    files = png_files(job)
    assert list(files) == ["alice.png"]
    assert decode_image(files["alice.png"]) == "scsc:alice:1234:ExtInc"
    assert job.report["items"] == [
        {"externalId": "alice", "status": "included", "message": ""},
        {
            "externalId": "colon",
            "status": "skipped",
            "message": "The password holds ':', which an scsc: code cannot carry; use a setup token instead.",
        },
        {
            "externalId": "sip-only",
            "status": "skipped",
            "message": "This end user has no provisioning credentials for an external code.",
        },
    ]


def test_unknown_external_ids_are_reported_in_the_order_asked(app, thirteen):
    job = jobs.start_job(
        app, "qr_zip", code_format="local", external_ids=["nobody", "user01", "user01"], actor="tests"
    )
    assert (job.total, job.report["requested"], job.report["included"], job.report["skipped"]) == (2, 2, 1, 1)
    assert job.report["items"] == [
        {
            "externalId": "nobody",
            "status": "skipped",
            "message": "No end user with this external id in this App.",
        },
        {"externalId": "user01", "status": "included", "message": ""},
    ]


def test_external_ids_differing_only_in_case_get_distinct_file_names(app):
    make_end_user(app, "Alice")
    make_end_user(app, "alice")
    job = jobs.start_job(app, "qr_zip", code_format="local", actor="tests")
    assert sorted(png_files(job)) == ["Alice.png", "alice~2.png"]


def test_the_pdf_has_one_page_per_six_users_and_every_qr_code_on_it_decodes(app, thirteen):
    job = jobs.start_job(app, "qr_pdf", code_format="local", actor="tests")
    assert (job.status, job.result_name, job.result_type) == (
        JobStatus.DONE,
        "AcmeInc-qr-local.pdf",
        "application/pdf",
    )
    pages = pdf_page_codes(jobs.job_result(job).content)
    assert CARDS_PER_PAGE == 6
    expected = [local_code(user) for user in thirteen]
    assert pages == [expected[0:6], expected[6:12], expected[12:13]]


def test_the_pdf_of_setup_tokens_decodes_to_tokens_of_the_right_users_on_letter_paper(app, thirteen):
    job = jobs.start_job(
        app, "qr_pdf", code_format="token", external_ids=["user03", "user11"], paper="letter", actor="tests"
    )
    data = jobs.job_result(job).content
    document = pypdfium2.PdfDocument(data)
    assert (len(document), document[0].get_size()) == (1, (612.0, 792.0))
    owners = [
        SetupToken.objects.get(token_hash=hash_token(text.rsplit("/", 1)[1])).end_user.external_id
        for text in pdf_page_codes(data)[0]
    ]
    assert owners == ["user03", "user11"]


def pdf_text(data: bytes) -> str:
    page = pypdfium2.PdfDocument(data)[0]
    return " ".join(page.get_textpage().get_text_range().split())


def test_setup_token_cards_name_linphone_and_where_to_get_it(app, thirteen):
    job = jobs.start_job(app, "qr_pdf", code_format="token", external_ids=["user03"], actor="tests")
    text = pdf_text(jobs.job_result(job).content)
    assert (
        "Install Linphone (App Store, Google Play, www.linphone.org). Scan this code with the phone's "
        "camera, "
        "or in Linphone: Assistant, Fetch remote configuration, Scan QR code. It works once"
    ) in text
    assert "Acme Telecom app" not in text


def test_setup_token_cards_of_a_sessiontalk_app_name_it_and_carry_the_scloc_code(app, thirteen):
    app.phone_app, app.phone_app_name, app.android_store_url = (
        "sessiontalk",
        "Acme Phone",
        "https://play.example/a",
    )
    app.save()
    job = jobs.start_job(app, "qr_pdf", code_format="token", external_ids=["user03"], actor="tests")
    data = jobs.job_result(job).content
    assert "Install Acme Phone (Google Play), open it and scan this code." in pdf_text(data)
    assert parse_code(pdf_page_codes(data)[0][0]).kind == "token"


def test_a_job_without_users_makes_an_empty_zip_and_a_blank_sheet(org):
    empty = make_app(org, "EmptyApp")
    assert png_files(jobs.start_job(empty, "qr_zip", actor="tests")) == {}
    assert pdf_page_codes(jobs.job_result(jobs.start_job(empty, "qr_pdf", actor="tests")).content) == [[]]


@pytest.mark.parametrize(
    ("kind", "code_format", "field", "message"),
    [
        ("qr_gif", "token", "kind", "Use qr_zip, qr_pdf or email."),
        ("qr_zip", "scsc", "format", "Use token, local or external."),
        (
            "qr_zip",
            "external",
            "format",
            "This App does not use external provisioning, so an external code would not work on a phone.",
        ),
        ("email", "local", "format", "E-mails always carry a setup token, never a password: use token."),
    ],
)
def test_it_refuses_a_job_it_cannot_run(app, kind, code_format, field, message):
    with pytest.raises(jobs.JobRequestError) as error:
        jobs.start_job(app, kind, code_format=code_format, actor="tests")
    assert (error.value.field, error.value.message) == (field, message)
