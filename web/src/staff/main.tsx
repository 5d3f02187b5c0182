/** Entry of the staff app (index.html). Loading the visit module also sets window.HavenVisit (see ../visit/mount). */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { StaffApp } from './staff-app';
import '../visit/visit.css';

const root = document.getElementById('app');
if (root)
  createRoot(root).render(
    <StrictMode>
      <StaffApp />
    </StrictMode>,
  );
