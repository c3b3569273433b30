"""Synthesis at Spark scale: block sampling, behaviour events, filters and fusion."""
