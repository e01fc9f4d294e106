"""Bulk jobs (import, QR codes, e-mails) and each App's setup e-mail."""

from __future__ import annotations

import uuid

from django.db import models

from sessioncloud.accounts.models import Organization
from sessioncloud.onboarding import mailtemplate
from sessioncloud.providers.fields import EncryptedBinaryField
from sessioncloud.providers.models import App


class JobKind(models.TextChoices):
    IMPORT = "import", "CSV import"
    QR_ZIP = "qr_zip", "QR codes as a ZIP of PNG files"
    QR_PDF = "qr_pdf", "QR codes as a printable PDF sheet"
    EMAIL = "email", "Setup e-mails"


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(models.Model):
    """One bulk run: what was asked, how far it got, its report and its file.

    The uploaded CSV and the produced file live in the database, encrypted (both may carry
    passwords or setup tokens), so any app process can serve them and none needs local disk.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, models.CASCADE, related_name="jobs")
    app = models.ForeignKey(App, models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=10, choices=JobKind.choices)
    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True)
    input = EncryptedBinaryField(blank=True, default=b"")
    result = EncryptedBinaryField(blank=True, default=b"")
    result_name = models.CharField(max_length=100, blank=True)
    result_type = models.CharField(max_length=100, blank=True)
    result_size = models.PositiveIntegerField(default=0)
    created_by = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Touched by every progress write: a running job that stops moving has lost its worker.
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["app", "-created"], name="job_app_created"),
            models.Index(fields=["created"], name="job_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.app.provider_id}"


class EmailSettings(models.Model):
    """The setup e-mail of one App; an App without a row uses the defaults."""

    app = models.OneToOneField(App, models.CASCADE, primary_key=True, related_name="email_settings")
    sender_name = models.CharField(max_length=mailtemplate.MAX_SENDER_NAME, blank=True)
    subject = models.CharField(max_length=mailtemplate.MAX_SUBJECT)
    body = models.TextField(max_length=mailtemplate.MAX_BODY)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "e-mail settings"

    def __str__(self) -> str:
        return f"setup e-mail of {self.app.provider_id}"

    @property
    def display_sender(self) -> str:
        return self.sender_name or self.app.name
