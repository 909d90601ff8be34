"""What an import tells the creator: counts, or every bad row with its column."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RowError:
    row_number: int  # 1 is the header; 0 is the file as a whole
    column: str
    message: str

    def __str__(self) -> str:
        where = f"Row {self.row_number}" if self.row_number else "File"
        if self.column:
            where = f"{where}, {self.column}"
        return f"{where}: {self.message}"


@dataclass
class ImportReport:
    products_created: int = 0
    products_updated: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    images_added: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        """For `ProductImport.report` (JSON)."""
        return {
            "products_created": self.products_created,
            "products_updated": self.products_updated,
            "variants_created": self.variants_created,
            "variants_updated": self.variants_updated,
            "images_added": self.images_added,
            "errors": [
                {"row": e.row_number, "column": e.column, "message": e.message} for e in self.errors
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> ImportReport:
        counts = {k: v for k, v in data.items() if k != "errors" and k in cls.__dataclass_fields__}
        errors = [RowError(e["row"], e["column"], e["message"]) for e in data.get("errors", [])]
        return cls(**counts, errors=errors)
