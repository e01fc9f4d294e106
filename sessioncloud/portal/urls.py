from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from sessioncloud.portal.views import apps, bulk, dashboard, endusers, ledger, organization, team

APP = "portal/apps/<str:provider_id>/"
END_USER = APP + "endusers/<str:external_id>/"
BULK_JOB = APP + "bulk/jobs/<uuid:job_id>/"

app_name = "portal"
urlpatterns = [
    path("", RedirectView.as_view(url="/portal/", permanent=False), name="root"),
    # Browsers ask for /favicon.ico on pages that name no icon (the API documentation).
    path(
        "favicon.ico", RedirectView.as_view(url=static("portal/favicon.svg"), permanent=True), name="favicon"
    ),
    path("portal/", apps.home, name="home"),
    path("portal/apps/new/", apps.app_new, name="app_new"),
    path("portal/apps/<str:provider_id>/", apps.app_detail, name="app_detail"),
    path("portal/apps/<str:provider_id>/general/", apps.app_general, name="app_general"),
    path("portal/apps/<str:provider_id>/branding/", apps.app_branding, name="app_branding"),
    path("portal/apps/<str:provider_id>/sip/", apps.app_sip, name="app_sip"),
    path("portal/apps/<str:provider_id>/delete/", apps.app_delete, name="app_delete"),
    path("portal/apps/<str:provider_id>/provisioning/", apps.app_provisioning, name="app_provisioning"),
    path(
        "portal/apps/<str:provider_id>/provisioning/rotate-secret/",
        apps.app_rotate_secret,
        name="app_rotate_secret",
    ),
    path(
        "portal/apps/<str:provider_id>/provisioning/end-rotation/",
        apps.app_end_rotation,
        name="app_end_rotation",
    ),
    path(APP + "dashboard/", dashboard.dashboard, name="app_dashboard"),
    path(APP + "provisioning/test/", dashboard.test_bench_page, name="app_test_bench"),
    path(APP + "endusers/", endusers.end_users, name="end_users"),
    # Not under endusers/: "new" is a valid external id.
    path(APP + "add-end-user/", endusers.end_user_new, name="end_user_new"),
    path(END_USER, endusers.end_user_detail, name="end_user"),
    path(END_USER + "edit/", endusers.end_user_edit, name="end_user_edit"),
    path(END_USER + "delete/", endusers.end_user_delete, name="end_user_delete"),
    path(END_USER + "reveal/", endusers.end_user_reveal, name="end_user_reveal"),
    path(END_USER + "setup-link/", endusers.end_user_setup_link, name="end_user_setup_link"),
    path(END_USER + "email/", endusers.end_user_email, name="end_user_email"),
    path(APP + "bulk/", bulk.bulk, name="bulk"),
    path(APP + "bulk/import/", bulk.bulk_import, name="bulk_import"),
    path(APP + "bulk/export/", bulk.bulk_export, name="bulk_export"),
    path(APP + "bulk/codes/", bulk.bulk_codes, name="bulk_codes"),
    path(APP + "bulk/email-settings/", bulk.bulk_email_settings, name="bulk_email_settings"),
    path(BULK_JOB, bulk.bulk_job, name="bulk_job"),
    path(BULK_JOB + "import/", bulk.bulk_job_import, name="bulk_job_import"),
    path(BULK_JOB + "download/", bulk.bulk_job_download, name="bulk_job_download"),
    path(APP + "tokens/", ledger.tokens, name="tokens"),
    path(APP + "tokens/<int:token_id>/revoke/", ledger.token_revoke, name="token_revoke"),
    path(APP + "devices/", ledger.devices, name="devices"),
    path(APP + "devices/deactivate/", ledger.device_deactivate, name="device_deactivate"),
    path(APP + "log/", ledger.provisioning_log, name="provisioning_log"),
    path("portal/team/", team.team, name="team"),
    path("portal/team/invite/", team.invite, name="invite"),
    path("portal/team/members/<int:member_id>/role/", team.change_role, name="change_role"),
    path("portal/team/members/<int:member_id>/remove/", team.remove_member, name="remove_member"),
    path(
        "portal/team/invitations/<int:invitation_id>/revoke/",
        team.revoke_invitation,
        name="revoke_invitation",
    ),
    path("portal/invitations/forget/", team.invitation_forget, name="invitation_forget"),
    path("portal/invitations/open/", team.invitation_open, name="invitation_open"),
    path("portal/invitations/", team.invitation, name="invitation"),
    path("portal/organizations/new/", organization.organization_new, name="organization_new"),
    path("portal/organizations/switch/", organization.organization_switch, name="organization_switch"),
    path("portal/api-keys/", organization.api_keys, name="api_keys"),
    path("portal/api-keys/<int:key_id>/revoke/", organization.api_key_revoke, name="api_key_revoke"),
    path("portal/audit/", organization.audit_log, name="audit_log"),
    path("portal/audit/export/", organization.audit_export, name="audit_export"),
]
