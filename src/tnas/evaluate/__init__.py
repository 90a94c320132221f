"""tnas.evaluate"""
