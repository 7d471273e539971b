"""Scoring: answers, submissions, the trusted scorer, the leaderboard. The only package that opens answers."""
