"""The reference softphone client (`sessioncloud phone`, SPEC 11).

Framework-free like a real phone app: it knows SessionCloud only through the phone API, and
shares with the server just the code formats and the merge rules.
"""
