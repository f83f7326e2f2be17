#!/usr/bin/env python3
"""codemagic-cli-tools' `app-store-connect` CLI, unmodified, pointed at crabapple.

The CLI has no base-URL option or environment variable; its API client reads the class attribute
`AppStoreConnectApiClient.API_URL`. This wrapper sets it from ASC_BASE_URL and then runs the very
entry point the installed `app-store-connect` script runs (docs/clients.md §3.4).

    ASC_BASE_URL=http://127.0.0.1:PORT \
    APP_STORE_CONNECT_ISSUER_ID=… APP_STORE_CONNECT_KEY_IDENTIFIER=… APP_STORE_CONNECT_PRIVATE_KEY=… \
    python codemagic_asc.py apps list --json
"""

import os
import sys

from codemagic.apple.app_store_connect import api_client

api_client.AppStoreConnectApiClient.API_URL = os.environ["ASC_BASE_URL"].rstrip("/") + "/v1"

from codemagic.tools import AppStoreConnect  # noqa: E402  (after the patch, like the real script)

if __name__ == "__main__":
    sys.argv[0] = "app-store-connect"
    sys.exit(AppStoreConnect.invoke_cli())
