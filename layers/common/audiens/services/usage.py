"""Usage reporting (DOMAIN.md §7), one service over three jobs:

* ``usage_reporting`` - the window, the listing, the CSV template, PUT and upload tickets (the API);
* ``usage_files`` - the files of the usage bucket (the S3 ingest);
* ``usage_ledger`` - what the monthly close reads (frozen usage, streamed).

The key design (sharded partitions, the buyer's usage guard and its leases) is in ``dal.usage`` and
docs/scale.md.
"""

from __future__ import annotations

from audiens.services.usage_files import UsageFiles
from audiens.services.usage_reporting import UsageReporting


class UsageService(UsageReporting, UsageFiles):
    """The API's and the S3 ingest's entry point: both jobs share the repository, catalog and window."""
