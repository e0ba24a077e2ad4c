raise ImportError("this plugin is broken on purpose (slipstream's loader tests)")
