"""Desk state: what a support team shares across app nodes (tickets and their history, accounts,
sessions, votes, view counts, the knowledge-base sources), on SQLAlchemy Core over SQLite (the
embedded default) or PostgreSQL, with versioned migrations.

Derived knowledge (the search index, the model) is not here: each node rebuilds it locally from
these sources (`webapp.knowledge`). Views and commands call the functions of the modules in this
package and never see which database runs underneath.
"""
