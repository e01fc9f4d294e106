"""Bulk onboarding of end users: CSV import and export, QR codes in bulk, setup e-mails, jobs."""
