"""The whole stack as local processes: what ``make up`` runs where there is no Docker."""
