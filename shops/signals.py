"""Signals shops sends to the apps above it (DESIGN.md section 1: a lower app never imports a
higher one)."""

from django.dispatch import Signal

# A flash-sale variant was switched on or had its stock set by its owner (`variant_id`): the
# flash path (orders.flash) reads its counts from PostgreSQL again once this commits.
flash_stock_set = Signal()
