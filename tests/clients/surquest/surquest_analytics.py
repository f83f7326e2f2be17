"""Drives surquest's Analytics Reports client (unmodified, PyPI
`surquest-utils-appstoreconnect-analyticsreports` 0.0.1) against crabapple.

Runs in tests/clients/surquest/.venv (the client pins cryptography < 46). Reads one JSON object on
stdin: {"base": URL, "keyId", "keyPath", "issuerId", "appId", "report": ReportName member,
"granularity": "DAILY"|…}, points the client at `base` the way reports-formats.md §5 says (the
class attribute `Client.BASE_URL`) and prints one JSON object: the reports of the COMMERCE
category, the report's processing dates, and `get_data`'s rows (request → reports by category and
name → instances by granularity and processing date → segments → download → gunzip → parse).
"""

import json
import sys

from surquest.utils.appstoreconnect.analyticsreports.client import Client
from surquest.utils.appstoreconnect.analyticsreports.enums.category import Category
from surquest.utils.appstoreconnect.analyticsreports.enums.granularity import Granularity
from surquest.utils.appstoreconnect.analyticsreports.enums.report_name import ReportName
from surquest.utils.appstoreconnect.credentials import Credentials


def main() -> None:
    args = json.load(sys.stdin)
    Client.BASE_URL = args["base"].rstrip("/") + "/v1"
    with open(args["keyPath"]) as f:
        key = f.read()
    client = Client(Credentials(args["issuerId"], args["keyId"], key))
    report = ReportName[args["report"]]
    granularity = Granularity[args["granularity"]]
    reports = client.list_reports(args["appId"], category=Category.COMMERCE)
    dates = client.list_report_dates(report, app_id=args["appId"], granularity=granularity)
    rows = client.get_data(args["appId"], report, granularity=granularity)
    json.dump(
        {
            "reports": [r["attributes"]["name"] for r in reports],
            "dates": dates,
            "rows": rows,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
