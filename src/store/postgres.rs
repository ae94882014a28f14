//! PostgreSQL: several instances on one database.
