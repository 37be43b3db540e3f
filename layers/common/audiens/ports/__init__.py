"""The ports: the Protocols the services need and the records their adapters share, one module per area.

``accounts``, ``onboarding``, ``marketplace``, ``channels``, ``usage`` and ``billing``. Services import them;
the DAL implements them; both depend on the domain only. The names of the former ``audiens.ports`` module
(accounts and onboarding) are re-exported here while other modules move to the per-area imports.
"""

from audiens.ports.accounts import AccountRepository, AuthorizerCache, EmailQueue, EmailSender
from audiens.ports.onboarding import OnboardingRepository, SourceObjects

__all__ = [
    "AccountRepository",
    "AuthorizerCache",
    "EmailQueue",
    "EmailSender",
    "OnboardingRepository",
    "SourceObjects",
]
