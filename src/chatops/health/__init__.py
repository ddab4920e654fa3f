"""Health gates: is the changed service really working?"""
