"""Tracked links: the public /r/<token> redirects of track_clicks and their click counts."""
