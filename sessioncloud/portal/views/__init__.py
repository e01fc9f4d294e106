"""Portal views, one module per area: Apps, team, organization (API keys, audit log)."""
