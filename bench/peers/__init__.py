"""What a user would run instead of idsync: the official Okta SDK (`okta` on PyPI), as the seeds'
migration script does (one user after the other) and with a few concurrent workers. Each module
runs on its own too: `python -m bench.peers.sdk_concurrent --url URL --token TOKEN --users N`."""
