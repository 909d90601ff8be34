"""On PostgreSQL, refuse at commit any ledger transaction whose entries do not sum to zero."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION orders_check_transaction_balanced() RETURNS trigger AS $$
DECLARE
    unbalanced text;
    txn bigint := COALESCE(NEW.transaction_id, OLD.transaction_id);
BEGIN
    SELECT string_agg(currency || ':' || total, ', ') INTO unbalanced FROM (
        SELECT currency, SUM(amount) AS total FROM orders_ledgerentry
        WHERE transaction_id = txn GROUP BY currency HAVING SUM(amount) <> 0
    ) t;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'ledger transaction % does not balance (%)', txn, unbalanced
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER orders_ledgerentry_balanced
    AFTER INSERT OR UPDATE OR DELETE ON orders_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION orders_check_transaction_balanced();
"""

DROP = """
DROP TRIGGER IF EXISTS orders_ledgerentry_balanced ON orders_ledgerentry;
DROP FUNCTION IF EXISTS orders_check_transaction_balanced();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_ledger")]

    operations = [migrations.RunPython(forwards, backwards)]
