"""The reference softphone client (`sessioncloud phone`; the API it calls: docs/phone-api.md).

Framework-free like a real phone app: it knows SessionCloud only through the phone API, and
shares with the server just the code formats and the merge rules.
"""
