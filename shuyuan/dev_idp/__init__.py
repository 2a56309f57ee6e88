"""A development OpenID Connect provider, so the citizen page signs in on a fresh machine (`make run`).

Never mounted in production (shuyuan/dev_idp/mount.py refuses): it signs in as anyone who types an ID.
"""
