from .ledger_models import LedgerAccount, LedgerEntry, LedgerTransaction

__all__ = ["LedgerAccount", "LedgerEntry", "LedgerTransaction"]
