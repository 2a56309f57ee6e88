"""The citizen page (数据使用记录): a citizen or an enterprise signs in with OpenID Connect and sees
which department read which of their data. Its own small app, mounted by the gateway at /citizen,
with its own session cookie: a citizen is never a console user."""
