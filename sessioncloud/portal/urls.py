from django.urls import path
from django.views.generic import RedirectView

from sessioncloud.portal.views import apps, organization, team

app_name = "portal"
urlpatterns = [
    path("", RedirectView.as_view(url="/portal/", permanent=False), name="root"),
    path("portal/", apps.home, name="home"),
    path("portal/apps/new/", apps.app_new, name="app_new"),
    path("portal/apps/<str:provider_id>/", apps.app_detail, name="app_detail"),
    path("portal/apps/<str:provider_id>/general/", apps.app_general, name="app_general"),
    path("portal/apps/<str:provider_id>/branding/", apps.app_branding, name="app_branding"),
    path("portal/apps/<str:provider_id>/sip/", apps.app_sip, name="app_sip"),
    path("portal/apps/<str:provider_id>/provisioning/", apps.app_provisioning, name="app_provisioning"),
    path("portal/apps/<str:provider_id>/provisioning/rotate-secret/", apps.app_rotate_secret,
         name="app_rotate_secret"),
    path("portal/apps/<str:provider_id>/provisioning/end-rotation/", apps.app_end_rotation,
         name="app_end_rotation"),
    path("portal/team/", team.team, name="team"),
    path("portal/team/invite/", team.invite, name="invite"),
    path("portal/team/members/<int:member_id>/role/", team.change_role, name="change_role"),
    path("portal/team/members/<int:member_id>/remove/", team.remove_member, name="remove_member"),
    path("portal/team/invitations/<int:invitation_id>/revoke/", team.revoke_invitation,
         name="revoke_invitation"),
    path("portal/invitations/forget/", team.invitation_forget, name="invitation_forget"),
    path("portal/invitations/<str:token>/", team.invitation, name="invitation"),
    path("portal/organizations/new/", organization.organization_new, name="organization_new"),
    path("portal/organizations/switch/", organization.organization_switch, name="organization_switch"),
    path("portal/api-keys/", organization.api_keys, name="api_keys"),
    path("portal/api-keys/<int:key_id>/revoke/", organization.api_key_revoke, name="api_key_revoke"),
    path("portal/audit/", organization.audit_log, name="audit_log"),
]
