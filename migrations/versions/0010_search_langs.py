"""search: a GIN index on each segment's lexemes qualified by its language's configuration, and the list of
configurations the library holds (issue 14, search latency)

Revision ID: 0010_search_langs
Revises: 0008_parts

The index on `tsv` found a query's readings in every language and left each candidate to be checked against
its own language's reading; a German reading of an English word ("killeden" -> "kill") filled the candidates
with English segments. The new index is on the tsvector with every lexeme prefixed by its configuration
('german:haus'), so each language's reading is looked up among that language's segments only. search_configs
lists the configurations segments are indexed with, kept by triggers, so a query is read in those only.
The expressions are copies of webapp.models.transcript.search_key_sql() and ts_config_name_sql() as of this
revision.
"""
from alembic import op

revision = "0010_search_langs"
down_revision = "0008_parts"
branch_labels = None
depends_on = None

WHENS = "WHEN 'ar' THEN 'arabic' WHEN 'ca' THEN 'catalan' WHEN 'da' THEN 'danish' WHEN 'de' THEN 'german' WHEN 'el' THEN 'greek' WHEN 'en' THEN 'english' WHEN 'es' THEN 'spanish' WHEN 'eu' THEN 'basque' WHEN 'fi' THEN 'finnish' WHEN 'fr' THEN 'french' WHEN 'ga' THEN 'irish' WHEN 'hi' THEN 'hindi' WHEN 'hu' THEN 'hungarian' WHEN 'hy' THEN 'armenian' WHEN 'id' THEN 'indonesian' WHEN 'it' THEN 'italian' WHEN 'lt' THEN 'lithuanian' WHEN 'ne' THEN 'nepali' WHEN 'nl' THEN 'dutch' WHEN 'nn' THEN 'norwegian' WHEN 'no' THEN 'norwegian' WHEN 'pt' THEN 'portuguese' WHEN 'ro' THEN 'romanian' WHEN 'ru' THEN 'russian' WHEN 'sr' THEN 'serbian' WHEN 'sv' THEN 'swedish' WHEN 'ta' THEN 'tamil' WHEN 'tr' THEN 'turkish' WHEN 'yi' THEN 'yiddish'"


def config_name(column: str) -> str:
    """The CASE of webapp.models.transcript.ts_config_name_sql() as of this revision."""
    return f"(CASE {column} {WHENS} ELSE 'simple' END)"


SEARCH_KEY_SQL = f"(regexp_replace(tsv::text, '(^| )''', '\\1''' || {config_name('language')} || ':', 'g')::tsvector)"
CONFIG_OF_NEW = config_name("n.language")

FUNCTION = f"""
CREATE FUNCTION search_configs_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_configs (config)
    SELECT DISTINCT {CONFIG_OF_NEW} FROM new_rows n
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute("CREATE TABLE search_configs (config varchar(32) PRIMARY KEY)")
    op.execute(FUNCTION)
    # a statement's rows at once (a transcript's segments arrive in a few INSERTs); transition tables need one
    # event per trigger
    op.execute("CREATE TRIGGER segments_search_configs_insert AFTER INSERT ON segments "
               "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_configs_add()")
    op.execute("CREATE TRIGGER segments_search_configs_update AFTER UPDATE ON segments "
               "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION search_configs_add()")
    op.execute(f"INSERT INTO search_configs (config) SELECT DISTINCT {CONFIG_OF_NEW} FROM segments n")
    op.drop_index("ix_segments_tsv", table_name="segments", postgresql_using="gin")
    op.execute(f"CREATE INDEX ix_segments_search ON segments USING gin ({SEARCH_KEY_SQL})")
    op.execute("ANALYZE segments")  # statistics for the new expression: the planner's row estimates for a query


def downgrade() -> None:
    op.execute("DROP INDEX ix_segments_search")
    op.create_index("ix_segments_tsv", "segments", ["tsv"], unique=False, postgresql_using="gin")
    op.execute("DROP TRIGGER segments_search_configs_update ON segments")
    op.execute("DROP TRIGGER segments_search_configs_insert ON segments")
    op.execute("DROP FUNCTION search_configs_add()")
    op.execute("DROP TABLE search_configs")
