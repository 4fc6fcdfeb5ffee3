"""The database backends psflow speaks: SQLite (embedded), PostgreSQL, MS SQL Server (its own T-SQL dialect)."""
