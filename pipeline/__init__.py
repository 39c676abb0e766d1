"""Topic tracker pipeline: read dated transcripts, split them into statements, tag, store."""

__version__ = "0.1.0"
