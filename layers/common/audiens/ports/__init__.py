"""The ports: the Protocols the services need and the records their adapters share, one module per area.

``accounts``, ``onboarding``, ``marketplace``, ``channels``, ``usage``, ``billing``, ``billing_documents``,
``events`` and ``jobs``. Services import them from their module; the DAL implements them; both depend on
the domain only.
"""
